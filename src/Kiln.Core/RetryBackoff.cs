namespace Kiln.Core;

/// <summary>
/// Exponential backoff with jitter for automatic retries: base × 2^(attempt−1), capped at
/// ten minutes, then spread by ±20 % so that a burst of failures (a worker host dying with
/// 30 leases) does not return as a synchronised burst.
/// </summary>
public static class RetryBackoff
{
    public static readonly TimeSpan Cap = TimeSpan.FromMinutes(10);

    /// <param name="attempt">The attempt that just failed (1-based).</param>
    /// <param name="baseSeconds">The job's backoff base.</param>
    /// <param name="jitter">A number in [0, 1); pass <c>Random.Shared.NextDouble()</c> outside tests.</param>
    public static TimeSpan Delay(int attempt, int baseSeconds, double jitter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(baseSeconds);
        var exponent = Math.Min(attempt - 1, 20);
        var seconds = Math.Min(baseSeconds * Math.Pow(2, exponent), Cap.TotalSeconds);
        var factor = 0.8 + (0.4 * Math.Clamp(jitter, 0, 1));
        return TimeSpan.FromSeconds(seconds * factor);
    }
}
