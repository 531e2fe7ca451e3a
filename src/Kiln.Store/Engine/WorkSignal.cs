namespace Kiln.Store.Engine;

/// <summary>
/// Wakes long-polling claims when work became pending — as many as there are new rows, not
/// all of them (waking every waiter for one new job made the others run empty claims).
/// Transactions that make work pending <c>NOTIFY</c> <see cref="Channel"/> with the number
/// of rows (delivered at commit, to every replica); each replica's listener calls
/// <see cref="Wake"/>. A woken claim that finds nothing for its worker passes the wake on
/// once, and every waiter also re-checks after a bounded fallback interval, so a lost or
/// misrouted notification costs at most one interval, never a stuck worker.
/// </summary>
public sealed class WorkSignal
{
    public const string Channel = "kiln_work";

    private readonly Lock _gate = new();
    private readonly LinkedList<TaskCompletionSource> _waiters = new();

    /// <summary>Registers a waiter. Register before looking for work, so a wake between the look and the wait is not lost.</summary>
    public Waiter Register()
    {
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            return new Waiter(this, _waiters.AddLast(source));
        }
    }

    /// <summary>Wakes the <paramref name="count"/> longest-waiting claims.</summary>
    public void Wake(int count)
    {
        lock (_gate)
        {
            for (; count > 0 && _waiters.First is { } first; count--)
            {
                _waiters.RemoveFirst();
                first.Value.TrySetResult();
            }
        }
    }

    /// <summary>Wakes every waiter (after a reconnect, when notifications may have been missed).</summary>
    public void WakeAll() => Wake(int.MaxValue);

    private void Remove(LinkedListNode<TaskCompletionSource> node)
    {
        lock (_gate)
        {
            if (node.List is not null)
            {
                _waiters.Remove(node);
            }
        }
    }

    /// <summary>One claim's place in the queue of waiters.</summary>
    public sealed class Waiter(WorkSignal signal, LinkedListNode<TaskCompletionSource> node) : IDisposable
    {
        public bool Woken => node.Value.Task.IsCompleted;

        /// <returns>True if woken, false if the timeout passed first.</returns>
        public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken ct)
        {
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var delay = Task.Delay(timeout, time, cancel.Token);
            var first = await Task.WhenAny(node.Value.Task, delay);
            await cancel.CancelAsync();
            ct.ThrowIfCancellationRequested();
            return first == node.Value.Task;
        }

        public void Dispose() => signal.Remove(node);
    }
}
