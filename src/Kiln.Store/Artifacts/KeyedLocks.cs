namespace Kiln.Store.Artifacts;

/// <summary>
/// A fixed set of async locks picked by key hash: writers of the same file serialise, writers
/// of different files rarely contend, and memory stays bounded however many files there are.
/// In-process only — one server owns its data directory's files.
/// </summary>
internal sealed class KeyedLocks(int stripes = 64)
{
    private readonly SemaphoreSlim[] _locks = [.. Enumerable.Range(0, stripes).Select(_ => new SemaphoreSlim(1, 1))];

    public async Task<IDisposable> AcquireAsync(string key, CancellationToken ct)
    {
        var gate = _locks[(StringComparer.Ordinal.GetHashCode(key) & int.MaxValue) % _locks.Length];
        await gate.WaitAsync(ct);
        return new Releaser(gate);
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release();
            }
        }
    }
}
