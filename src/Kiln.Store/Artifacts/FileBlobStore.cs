using System.Security.Cryptography;

namespace Kiln.Store.Artifacts;

/// <summary>
/// Blobs as files under a root directory: <c>blobs/ab/abcdef…</c> (two-character fan-out keeps
/// directories small) and partial uploads in <c>uploads/&lt;sha256&gt;.part</c>. A partial upload is
/// keyed by content only, so two tasks uploading the same bytes share it harmlessly. A blob
/// appears by an atomic rename after verification, so a reader never sees half a blob.
/// </summary>
public sealed class FileBlobStore : IBlobStore
{
    private const int CopyBufferBytes = 128 * 1024;
    private readonly string _blobs;
    private readonly string _uploads;
    private readonly KeyedLocks _locks = new();

    public FileBlobStore(string root)
    {
        _blobs = Path.Combine(root, "blobs");
        _uploads = Path.Combine(root, "uploads");
        Directory.CreateDirectory(_blobs);
        Directory.CreateDirectory(_uploads);
    }

    public Task<bool> ExistsAsync(string sha256, CancellationToken ct) => Task.FromResult(File.Exists(BlobPath(sha256)));

    public Task<long> UploadedLengthAsync(string sha256, CancellationToken ct)
    {
        var part = new FileInfo(PartPath(sha256));
        return Task.FromResult(part.Exists ? part.Length : 0);
    }

    public async Task<long> AppendAsync(string sha256, long size, long offset, Stream content, CancellationToken ct)
    {
        using var held = await _locks.AcquireAsync(sha256, ct);
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

    public async Task<bool> CompleteAsync(string sha256, long size, CancellationToken ct)
    {
        using var held = await _locks.AcquireAsync(sha256, ct);
        var blob = BlobPath(sha256);
        if (File.Exists(blob))
        {
            return true;
        }
        var part = PartPath(sha256);
        if (!File.Exists(part) || new FileInfo(part).Length != size)
        {
            return false;
        }
        string actual;
        await using (var read = new FileStream(part, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBufferBytes, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(read, ct));
        }
        if (actual != sha256)
        {
            File.Delete(part);
            return false;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        File.Move(part, blob, overwrite: true);
        return true;
    }

    public Task<Stream?> OpenReadAsync(string sha256, CancellationToken ct)
    {
        var blob = BlobPath(sha256);
        Stream? stream = File.Exists(blob)
            ? new FileStream(blob, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBufferBytes, FileOptions.Asynchronous)
            : null;
        return Task.FromResult(stream);
    }

    private string BlobPath(string sha256) => Path.Combine(_blobs, sha256[..2], sha256);

    private string PartPath(string sha256) => Path.Combine(_uploads, sha256 + ".part");
}
