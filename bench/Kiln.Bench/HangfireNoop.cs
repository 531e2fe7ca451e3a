namespace Kiln.Bench;

/// <summary>The Hangfire job of the peer bench: does nothing, and counts itself so the bench knows when the load is drained.</summary>
public static class HangfireNoop
{
    private static int _remaining;
    private static TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static Task Expect(int jobs)
    {
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _remaining, jobs);
        return _done.Task;
    }

    /// <summary>The job body (public and static so Hangfire can invoke it without an activator).</summary>
    public static void Run()
    {
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _done.TrySetResult();
        }
    }
}
