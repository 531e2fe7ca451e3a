using System.Diagnostics;

namespace Kiln.Bench;

/// <summary>
/// The Hangfire job of the peer bench: does nothing, and counts itself so the bench knows when
/// the load is drained and when the last job ran.
/// </summary>
public static class HangfireNoop
{
    private static int _remaining;
    private static long _last;

    /// <summary>The job body (public and static so Hangfire can invoke it without an activator).</summary>
    public static void Run()
    {
        Interlocked.Exchange(ref _last, Stopwatch.GetTimestamp());
        Interlocked.Decrement(ref _remaining);
    }

    public static void Expect(int jobs)
    {
        Interlocked.Exchange(ref _last, Stopwatch.GetTimestamp());
        Volatile.Write(ref _remaining, jobs);
    }

    /// <summary>
    /// Waits until every expected job ran, or until none has run for <paramref name="stall"/>:
    /// Hangfire.PostgreSql occasionally leaves a fetched job invisible until its invisibility
    /// timeout (30 min) passes. Returns the jobs still missing and the time of the last one that ran.
    /// </summary>
    public static async Task<(int Missing, long LastRan)> WaitAsync(TimeSpan stall)
    {
        while (Volatile.Read(ref _remaining) > 0 && Stopwatch.GetElapsedTime(Interlocked.Read(ref _last)) < stall)
        {
            await Task.Delay(20);
        }
        return (Math.Max(0, Volatile.Read(ref _remaining)), Interlocked.Read(ref _last));
    }
}
