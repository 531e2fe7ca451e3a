namespace Kiln.Store.Artifacts;

/// <summary>
/// Content-addressed bytes: every blob is named by the lower-case hex SHA-256 of its content.
/// Uploads are resumable: bytes arrive at offsets into a partial upload, which becomes a blob
/// only once its length and hash are verified. The local filesystem implements it
/// (<see cref="FileBlobStore"/>); an S3-compatible store can implement it with multipart uploads.
/// </summary>
public interface IBlobStore
{
    /// <summary>
    /// True when a complete blob with this hash and <paramref name="size"/> is stored. A blob of another
    /// length is damaged: it is set aside and counts as absent, so the content can be uploaded again.
    /// </summary>
    Task<bool> ExistsAsync(string sha256, long size, CancellationToken ct);

    /// <summary>Bytes received so far of an upload of this content (0 when none started).</summary>
    Task<long> UploadedLengthAsync(string sha256, CancellationToken ct);

    /// <summary>
    /// Writes <paramref name="content"/> at <paramref name="offset"/> of the upload of <paramref name="sha256"/>.
    /// Bytes the store already has are skipped; an offset past the end writes nothing. Never writes beyond
    /// <paramref name="size"/>.
    /// </summary>
    /// <returns>Bytes held after the write.</returns>
    /// <exception cref="BlobTooLongException">The content runs past the declared size.</exception>
    /// <exception cref="Storage.StorageFullException">The store has no space left; what was written before stays.</exception>
    Task<long> AppendAsync(string sha256, long size, long offset, Stream content, CancellationToken ct);

    /// <summary>
    /// Verifies a fully received upload against its hash and makes it a blob. A mismatch discards the
    /// upload (it must start again) and returns false.
    /// </summary>
    Task<bool> CompleteAsync(string sha256, long size, CancellationToken ct);

    /// <summary>
    /// Opens a blob for reading (seekable, for range requests); null when it does not exist. The content
    /// is verified against its hash (at least once per blob and process) before it is served.
    /// </summary>
    /// <exception cref="BlobCorruptException">The blob does not hash to its name; it was set aside (now absent).</exception>
    Task<Stream?> OpenReadAsync(string sha256, CancellationToken ct);
}

/// <summary>An upload sent more bytes than it declared.</summary>
public sealed class BlobTooLongException(string message) : Exception(message);
