namespace Kiln.Worker;

/// <summary>
/// Every report to the server is repeated until it is acknowledged: transient failures (network,
/// timeouts, 5xx, 429) are retried with exponential backoff from 0.5 s to 30 s with jitter; a refusal
/// (4xx) is final and surfaces as the exception. Only the caller's token stops the repetition —
/// a result is never dropped because one request timed out. A caller that must not wait forever on
/// a server that answers but cannot store (507 storage full, other 5xx) passes a patience: once
/// server errors have gone on that long, the last one surfaces. An unreachable server never counts
/// against it (a restart loses nothing).
/// </summary>
internal sealed class RetryPolicy(TimeProvider time, Action<string, Exception, TimeSpan> onRetry)
{
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);

    /// <summary>
    /// <paramref name="backoff"/>, or longer when the server said how long to wait (Retry-After, as
    /// on a 429 from its rate limits): retrying sooner would only be refused again.
    /// </summary>
    public static TimeSpan HonouringRetryAfter(Exception e, TimeSpan backoff) =>
        e is Contracts.KilnApiException { RetryAfter: { } asked } && asked > backoff ? asked : backoff;

    /// <param name="serverErrorPatience">Longest run of server error answers before giving up; null to repeat forever.</param>
    public async Task<T> UntilAcknowledgedAsync<T>(string what, Func<CancellationToken, Task<T>> call, CancellationToken ct, TimeSpan? serverErrorPatience = null)
    {
        var delay = FirstDelay;
        DateTimeOffset? erringSince = null;
        while (true)
        {
            try
            {
                return await call(ct);
            }
            catch (Exception e) when (Contracts.KilnClient.IsTransient(e, ct))
            {
                // A 429 is the server pacing this worker, not failing to store: it never counts against the patience.
                if (serverErrorPatience is { } patience && e is Contracts.KilnApiException { Status: not System.Net.HttpStatusCode.TooManyRequests })
                {
                    erringSince ??= time.GetUtcNow();
                    if (time.GetUtcNow() - erringSince.Value >= patience)
                    {
                        throw;
                    }
                }
                var wait = HonouringRetryAfter(e, delay * (0.8 + (0.4 * Random.Shared.NextDouble())));
                onRetry(what, e, wait);
                await Task.Delay(wait, time, ct);
                delay = delay * 2 < MaxDelay ? delay * 2 : MaxDelay;
            }
        }
    }
}
