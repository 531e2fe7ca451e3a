using System.Collections.Concurrent;
using Kiln.Store.Artifacts;
using Kiln.Store.Storage;

namespace Kiln.Store.Logs;

/// <summary>
/// Task logs as append-only files, one per attempt: <c>&lt;root&gt;/&lt;work request&gt;/&lt;attempt&gt;-&lt;lease&gt;.log</c>.
/// The lease token in the name ties a file to exactly one attempt, so a data directory that
/// outlives its database (ids start again) never shows an old log as a new one.
/// Appends are idempotent by offset (bytes already held are skipped, a gap is never written),
/// so a worker can repeat a chunk whose answer it lost. Nothing is held in memory beyond one
/// chunk per request; a 200 MB log is a 200 MB file. Readers can wait for growth: every append
/// wakes the waiters of its log.
/// </summary>
public sealed class LogStore
{
    private readonly string _root;
    private readonly KeyedLocks _locks = new();
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _growth = new();

    public LogStore(string root)
    {
        _root = root;
        Directory.CreateDirectory(root);
    }

    public string PathOf(long workRequestId, int attempt, Guid lease) =>
        Path.Combine(_root, workRequestId.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{attempt}-{lease:N}.log");

    public long SizeOf(long workRequestId, int attempt, Guid lease)
    {
        var file = new FileInfo(PathOf(workRequestId, attempt, lease));
        return file.Exists ? file.Length : 0;
    }

    /// <summary>Writes <paramref name="chunk"/>, which starts at <paramref name="offset"/> of the log.</summary>
    /// <returns>The log's size afterwards.</returns>
    /// <exception cref="LogTooLargeException">The log would grow past <paramref name="maxBytes"/>.</exception>
    /// <exception cref="StorageFullException">The log volume is full (ENOSPC, EDQUOT); nothing held is lost, repeat later.</exception>
    public async Task<long> AppendAsync(long workRequestId, int attempt, Guid lease, long offset, ReadOnlyMemory<byte> chunk, long maxBytes, CancellationToken ct)
    {
        var path = PathOf(workRequestId, attempt, lease);
        long size;
        using (await _locks.AcquireAsync(path, ct))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.Asynchronous);
            size = file.Length;
            var end = offset + chunk.Length;
            if (offset > size || end <= size)
            {
                // A gap (the caller resumes from size) or bytes already held (a repeat).
                return size;
            }
            if (end > maxBytes)
            {
                throw new LogTooLargeException(maxBytes);
            }
            file.Seek(size, SeekOrigin.Begin);
            try
            {
                await file.WriteAsync(chunk[(int)(size - offset)..], ct);
                await file.FlushAsync(ct);
            }
            catch (IOException e) when (StorageFullException.IsDiskFull(e))
            {
                // What went in before the disk filled is the log's own bytes at their offsets: the writer resumes after them.
                throw new StorageFullException("log", e);
            }
            size = file.Length;
        }
        if (_growth.TryRemove(lease, out var waiters))
        {
            waiters.TrySetResult();
        }
        return size;
    }

    /// <summary>Completes when the log is appended to (or at once, if it already grew past <paramref name="knownSize"/>).</summary>
    public Task GrowthAsync(long workRequestId, int attempt, Guid lease, long knownSize)
    {
        var signal = _growth.GetOrAdd(lease, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        return SizeOf(workRequestId, attempt, lease) > knownSize ? Task.CompletedTask : signal.Task;
    }

    /// <summary>Opens the log for reading while it may still grow; null when nothing was written yet.</summary>
    public Stream? OpenRead(long workRequestId, int attempt, Guid lease)
    {
        var path = PathOf(workRequestId, attempt, lease);
        return File.Exists(path)
            ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 64 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan)
            : null;
    }
}

/// <summary>An attempt's log reached the server's size limit.</summary>
public sealed class LogTooLargeException(long maxBytes) : Exception($"the log reached the server's limit of {maxBytes} bytes; further output is dropped")
{
    public long MaxBytes { get; } = maxBytes;
}
