namespace Kiln.EndToEnd.Tests;

/// <summary>Bounded waits for a condition to become true (correctness, not speed: the bound is generous).</summary>
public static class Eventually
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan within, string what, Func<string>? diagnostics = null)
    {
        using var deadline = new CancellationTokenSource(within);
        while (!await condition())
        {
            if (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"waited {within.TotalSeconds:0} s for {what}" + (diagnostics is null ? "" : $"\n{diagnostics()}"));
            }
            await Task.Delay(PollInterval, CancellationToken.None);
        }
    }

    public static Task TrueAsync(Func<bool> condition, TimeSpan within, string what, Func<string>? diagnostics = null) =>
        TrueAsync(() => Task.FromResult(condition()), within, what, diagnostics);
}
