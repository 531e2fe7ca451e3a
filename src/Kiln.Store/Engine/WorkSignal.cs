namespace Kiln.Store.Engine;

/// <summary>
/// Wakes long-polling claims when work may have become available. Transactions that make
/// work pending <c>NOTIFY</c> <see cref="Channel"/> (delivered at commit, to every replica);
/// the server's listener and in-process committers call <see cref="Pulse"/>. Waiters also
/// wake on their own after a bounded fallback interval, so a lost notification costs at
/// most one interval, never a stuck worker.
/// </summary>
public sealed class WorkSignal
{
    public const string Channel = "kiln_work";

    private TaskCompletionSource _next = NewSource();

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The current generation; wait on it, then re-check for work.</summary>
    public Task Current => Volatile.Read(ref _next).Task;

    public void Pulse()
    {
        var previous = Interlocked.Exchange(ref _next, NewSource());
        previous.TrySetResult();
    }
}
