using System.Collections.Concurrent;
using System.Security.Cryptography;
using Kiln.Store.Storage;

namespace Kiln.Store.Artifacts;

/// <summary>
/// Blobs as files under a root directory: <c>blobs/ab/abcdef…</c> (two-character fan-out keeps
/// directories small) and partial uploads in <c>uploads/&lt;sha256&gt;.part</c>. A partial upload is
/// keyed by content only, so two tasks uploading the same bytes share it harmlessly. A blob
/// appears by an atomic rename after verification, with the file flushed (fsync) before and its
/// directory after, so a power loss leaves either no blob or the whole one.
/// A blob is trusted only while it is what its name says: one whose length differs from the
/// recorded size, or whose hash differs when it is first read by this process, is moved to
/// <c>corrupt/</c> and counts as absent, so the next upload of the same content repairs it.
/// A full filesystem surfaces as <see cref="StorageFullException"/>.
/// </summary>
public sealed class FileBlobStore : IBlobStore
{
    private const int CopyBufferBytes = 128 * 1024;

    /// <summary>Bounds the memory of <see cref="_verified"/>; past it the set starts again (blobs are then hashed again once).</summary>
    private const int MaxVerified = 100_000;

    private readonly string _blobs;
    private readonly string _uploads;
    private readonly string _corrupt;
    private readonly KeyedLocks _locks = new();

    /// <summary>Blobs hashed by this process, with the length and write time they had: a read verifies each blob once, not every time.</summary>
    private readonly ConcurrentDictionary<string, (long Length, DateTime Written)> _verified = new(StringComparer.Ordinal);

    public FileBlobStore(string root)
    {
        _blobs = Path.Combine(root, "blobs");
        _uploads = Path.Combine(root, "uploads");
        _corrupt = Path.Combine(root, "corrupt");
        Directory.CreateDirectory(_blobs);
        Directory.CreateDirectory(_uploads);
    }

    public Task<bool> ExistsAsync(string sha256, long size, CancellationToken ct)
    {
        var blob = new FileInfo(BlobPath(sha256));
        if (!blob.Exists)
        {
            return Task.FromResult(false);
        }
        if (blob.Length != size)
        {
            // Cut short (a power loss before the bytes reached the disk): not the content its name promises.
            SetAside(sha256);
            return Task.FromResult(false);
        }
        return Task.FromResult(true);
    }

    public Task<long> UploadedLengthAsync(string sha256, CancellationToken ct)
    {
        var part = new FileInfo(PartPath(sha256));
        return Task.FromResult(part.Exists ? part.Length : 0);
    }

    public async Task<long> AppendAsync(string sha256, long size, long offset, Stream content, CancellationToken ct)
    {
        using var held = await _locks.AcquireAsync(sha256, ct);
        try
        {
            await using var file = new FileStream(PartPath(sha256), FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read, 1, FileOptions.Asynchronous);
            var length = file.Length;
            if (offset > length)
            {
                // A gap would corrupt the content; the caller resumes from what is here.
                return length;
            }
            var buffer = new byte[CopyBufferBytes];
            var skip = length - offset;
            file.Seek(length, SeekOrigin.Begin);
            int read;
            while ((read = await content.ReadAsync(buffer, ct)) > 0)
            {
                var start = 0;
                if (skip > 0)
                {
                    var skipped = (int)Math.Min(skip, read);
                    skip -= skipped;
                    start = skipped;
                }
                var count = read - start;
                if (count == 0)
                {
                    continue;
                }
                if (file.Position + count > size)
                {
                    throw new BlobTooLongException($"the content runs past its declared size of {size} bytes");
                }
                await file.WriteAsync(buffer.AsMemory(start, count), ct);
            }
            await file.FlushAsync(ct);
            return file.Length;
        }
        catch (IOException e) when (StorageFullException.IsDiskFull(e))
        {
            // Bytes written before the disk filled are the content's own, at their offset: the upload resumes after them.
            throw new StorageFullException("artifact", e);
        }
    }

    public async Task<bool> CompleteAsync(string sha256, long size, CancellationToken ct)
    {
        using var held = await _locks.AcquireAsync(sha256, ct);
        var blob = BlobPath(sha256);
        if (File.Exists(blob) && new FileInfo(blob).Length == size)
        {
            return true;
        }
        var part = PartPath(sha256);
        if (!File.Exists(part) || new FileInfo(part).Length != size)
        {
            return false;
        }
        try
        {
            string actual;
            await using (var file = new FileStream(part, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, CopyBufferBytes, FileOptions.Asynchronous | FileOptions.SequentialScan))
            {
                actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
                if (actual == sha256)
                {
                    // The bytes reach the disk before the name does.
                    file.Flush(flushToDisk: true);
                }
            }
            if (actual != sha256)
            {
                File.Delete(part);
                return false;
            }
            var directory = Path.GetDirectoryName(blob)!;
            var created = !Directory.Exists(directory);
            Directory.CreateDirectory(directory);
            File.Move(part, blob, overwrite: true);
            Durable.SyncDirectory(directory);
            if (created)
            {
                Durable.SyncDirectory(_blobs);
            }
            Remember(sha256, blob);
            return true;
        }
        catch (IOException e) when (StorageFullException.IsDiskFull(e))
        {
            throw new StorageFullException("artifact", e);
        }
    }

    public async Task<Stream?> OpenReadAsync(string sha256, CancellationToken ct)
    {
        var blob = BlobPath(sha256);
        if (!File.Exists(blob))
        {
            return null;
        }
        var stream = new FileStream(blob, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBufferBytes, FileOptions.Asynchronous);
        var info = new FileInfo(blob);
        if (_verified.TryGetValue(sha256, out var known) && known == (info.Length, info.LastWriteTimeUtc))
        {
            return stream;
        }
        string actual;
        try
        {
            actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
        if (actual != sha256)
        {
            await stream.DisposeAsync();
            SetAside(sha256);
            throw new BlobCorruptException(sha256, actual);
        }
        Remember(sha256, blob);
        stream.Seek(0, SeekOrigin.Begin);
        return stream;
    }

    private void Remember(string sha256, string blob)
    {
        if (_verified.Count >= MaxVerified)
        {
            _verified.Clear();
        }
        var info = new FileInfo(blob);
        _verified[sha256] = (info.Length, info.LastWriteTimeUtc);
    }

    /// <summary>Moves a damaged blob out of the way (kept for inspection, replaced by a later one): the content then counts as not stored.</summary>
    private void SetAside(string sha256)
    {
        _verified.TryRemove(sha256, out _);
        try
        {
            Directory.CreateDirectory(_corrupt);
            File.Move(BlobPath(sha256), Path.Combine(_corrupt, sha256), overwrite: true);
        }
        catch (FileNotFoundException)
        {
            // Set aside by a concurrent reader already.
        }
    }

    private string BlobPath(string sha256) => Path.Combine(_blobs, sha256[..2], sha256);

    private string PartPath(string sha256) => Path.Combine(_uploads, sha256 + ".part");
}
