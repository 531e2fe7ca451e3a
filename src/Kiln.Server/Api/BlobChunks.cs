using Kiln.Store.Artifacts;
using Kiln.Store.Storage;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Api;

/// <summary>
/// The resumable chunk upload every content-addressed upload shares (artifacts, environment tarballs,
/// source files): at most <see cref="ArtifactsApi.MaxUploadChunkBytes"/> a request with a Content-Length,
/// appended at an offset, verified against its hash once complete, then on record as a blob.
/// </summary>
public static class BlobChunks
{
    /// <summary>Refuses an offset outside the content or a chunk without a (small enough) Content-Length.</summary>
    public static IResult? Refusal(HttpRequest request, long size, long offset) =>
        offset < 0 || offset > size ? ApiProblems.Invalid("offset", $"must be 0 to {size}")
        : request.ContentLength is not { } length || length > ArtifactsApi.MaxUploadChunkBytes
            ? ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "Chunk too large",
                $"send content in chunks of at most {ArtifactsApi.MaxUploadChunkBytes} bytes, each with a Content-Length")
        : null;

    /// <summary>Appends the request's body at <paramref name="offset"/>; when the content is whole, verifies it and records the blob.</summary>
    /// <returns>The bytes held, or the problem to answer (hash mismatch: the upload was discarded; too long; storage full).</returns>
    public static async Task<(long Held, IResult? Problem)> ReceiveAsync(
        HttpRequest request, IBlobStore blobs, ArtifactStore artifacts, string sha256, long size, long offset, CancellationToken ct)
    {
        try
        {
            var held = await blobs.AppendAsync(sha256, size, offset, request.Body, ct);
            if (held == size)
            {
                if (!await blobs.CompleteAsync(sha256, size, ct))
                {
                    return (0, ApiProblems.Status(StatusCodes.Status422UnprocessableEntity, "Content does not match its hash",
                        $"the {size} bytes received do not hash to {sha256}; the upload was discarded, start it again"));
                }
                await artifacts.AddBlobAsync(sha256, size, ct);
            }
            return (held, null);
        }
        catch (BlobTooLongException e)
        {
            return (0, ApiProblems.Invalid("size", e.Message));
        }
        catch (StorageFullException e)
        {
            return (0, ApiProblems.Status(StatusCodes.Status507InsufficientStorage, "Insufficient storage", e.Message));
        }
    }
}
