using System.Globalization;
using Kiln.Contracts;
using Kiln.Server.Hosting;
using Kiln.Server.Security;
using Kiln.Store.Artifacts;
using Kiln.Store.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/work-requests/{id}/artifacts</c>: a worker declares each output (recorded at once when
/// its content is already stored), uploads missing content in resumable chunks, then declares it
/// again; whoever may see the project lists and downloads them (with HTTP ranges). Paths are relative, without
/// <c>..</c>; sizes are limited by <see cref="KilnServerOptions.MaxArtifactBytes"/>.
/// </summary>
public static class ArtifactsApi
{
    /// <summary>Largest content chunk per upload request; within Kestrel's body limit.</summary>
    public const int MaxUploadChunkBytes = 4 * 1024 * 1024;

    /// <summary>Most artifacts one attempt may record.</summary>
    public const int MaxArtifactsPerAttempt = 1000;

    private const int BodyMaxBytes = 16 * 1024;

    public static IEndpointRouteBuilder MapArtifactsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/work-requests/{id:long}/artifacts").WithTags("Artifacts");
        group.MapGet("/", ListAsync).Produces<ArtifactList>().Allow(AccessPolicy.Read)
            .WithSummary("Artifacts of an attempt ('attempt', default the latest), by path.");
        group.MapGet("/{*path}", DownloadAsync)
            .Allow(AccessPolicy.Read)
            .WithSummary("An artifact's content; supports Range requests. 'attempt' defaults to the latest.");
        var worker = group.MapGroup("/").Allow(AccessPolicy.Worker).AddEndpointFilter<WorkerAuthFilter>();
        worker.MapPost("/", DeclareAsync)
            .Accepts<ArtifactUploadRequest>("application/json")
            .Produces<ArtifactUploadResponse>()
            .WithSummary("Worker: declare an output by path, SHA-256 and size. Recorded at once if the content is stored; otherwise upload it, then declare again.");
        worker.MapPut("/content", UploadAsync)
            .Accepts<byte[]>("application/octet-stream")
            .Produces<ArtifactUploadResponse>()
            .ProducesProblem(StatusCodes.Status507InsufficientStorage)
            .WithSummary("Worker: upload content bytes at 'offset' (header Kiln-Lease-Token). Resumable: answers the offset held.");
        return routes;
    }

    private static async Task<IResult> DeclareAsync(
        long id, HttpContext http, AttemptLeases leases, ArtifactStore artifacts, IBlobStore blobs, KilnServerOptions options, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<ArtifactUploadRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (ArtifactPaths.Problem(body!.Path) is { } pathProblem)
        {
            return ApiProblems.Invalid("path", pathProblem);
        }
        if (Validate(body.Sha256, body.Size, options) is { } invalid)
        {
            return invalid;
        }
        var attempt = await leases.HeldAttemptAsync(id, body.LeaseToken, WorkerAuthFilter.Worker(http).Id, ct);
        if (attempt is null)
        {
            return LeaseNotHeld(id);
        }
        if (await artifacts.GetAsync(id, attempt.Value, body.Path, ct) is { } existing && existing.Sha256 == body.Sha256)
        {
            return TypedResults.Ok(new ArtifactUploadResponse(true, body.Size, existing));
        }
        if (await artifacts.CountAsync(id, attempt.Value, ct) >= MaxArtifactsPerAttempt)
        {
            return ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "Too many artifacts",
                $"an attempt may record at most {MaxArtifactsPerAttempt} artifacts; narrow the job's output globs or archive the files");
        }
        if (await artifacts.BlobSizeAsync(body.Sha256, ct) is { } stored && await blobs.ExistsAsync(body.Sha256, stored, ct))
        {
            if (stored != body.Size)
            {
                return ApiProblems.Invalid("size", $"content {body.Sha256} is stored with {stored} bytes, not {body.Size}");
            }
            var artifact = await artifacts.RecordAsync(id, attempt.Value, body.Path, body.Sha256, body.Size, ct);
            return TypedResults.Ok(new ArtifactUploadResponse(true, body.Size, artifact));
        }
        return TypedResults.Ok(new ArtifactUploadResponse(false, await blobs.UploadedLengthAsync(body.Sha256, ct), null));
    }

    private static async Task<IResult> UploadAsync(
        long id, string sha256, long size, long offset, HttpContext http, AttemptLeases leases, ArtifactStore artifacts, IBlobStore blobs,
        KilnServerOptions options, CancellationToken ct)
    {
        if (!Guid.TryParse(http.Request.Headers[LeaseHeaders.LeaseToken], out var token))
        {
            return ApiProblems.Invalid(LeaseHeaders.LeaseToken, "the header must carry the attempt's lease token");
        }
        if (Validate(sha256, size, options) is { } invalid)
        {
            return invalid;
        }
        if (BlobChunks.Refusal(http.Request, size, offset) is { } refusal)
        {
            return refusal;
        }
        if (await leases.HeldAttemptAsync(id, token, WorkerAuthFilter.Worker(http).Id, ct) is null)
        {
            return LeaseNotHeld(id);
        }
        if (await blobs.ExistsAsync(sha256, size, ct))
        {
            // Stored already (another upload, or this one whose answer was lost): make sure it is on record.
            await artifacts.AddBlobAsync(sha256, size, ct);
            return TypedResults.Ok(new ArtifactUploadResponse(false, size, null));
        }
        var (held, problem) = await BlobChunks.ReceiveAsync(http.Request, blobs, artifacts, sha256, size, offset, ct);
        if (problem is not null)
        {
            return problem;
        }
        return TypedResults.Ok(new ArtifactUploadResponse(false, held, null));
    }

    private static async Task<IResult> ListAsync(long id, int? attempt, HttpContext http, AttemptLeases leases, ArtifactStore artifacts, ProjectAccess access, CancellationToken ct)
    {
        if (await access.WorkRequestAsync(http, id, ProjectNeed.Read) is { } refused)
        {
            return refused;
        }
        if (await leases.CurrentAsync(id, ct) is not { } current)
        {
            return ApiProblems.NotFound($"work request {id} does not exist");
        }
        var items = await artifacts.ListAsync(id, attempt, MaxArtifactsPerAttempt, ct);
        return TypedResults.Ok(new ArtifactList(id, attempt ?? current.Attempt, items));
    }

    internal static async Task<IResult> DownloadAsync(
        long id, string path, int? attempt, HttpContext http, AttemptLeases leases, ArtifactStore artifacts, IBlobStore blobs, ProjectAccess access, CancellationToken ct)
    {
        if (await access.WorkRequestAsync(http, id, ProjectNeed.Read) is { } refused)
        {
            return refused;
        }
        if (ArtifactPaths.Problem(path) is { } pathProblem)
        {
            return ApiProblems.Invalid("path", pathProblem);
        }
        if (await leases.CurrentAsync(id, ct) is not { } current)
        {
            return ApiProblems.NotFound($"work request {id} does not exist");
        }
        var number = attempt ?? current.Attempt;
        if (await artifacts.GetAsync(id, number, path, ct) is not { } artifact)
        {
            return ApiProblems.NotFound($"work request {id} has no artifact '{path}' in attempt {number}");
        }
        Stream? stream;
        try
        {
            stream = await blobs.OpenReadAsync(artifact.Sha256, ct);
        }
        catch (BlobCorruptException e)
        {
            // Permanent for this request (a client must not loop on it); the next upload of the content repairs it.
            return ApiProblems.Status(StatusCodes.Status410Gone, "Content damaged", $"the content of '{path}': {e.Message}");
        }
        if (stream is null)
        {
            return ApiProblems.Status(StatusCodes.Status410Gone, "Content missing", $"the content of '{path}' ({artifact.Sha256}) is no longer stored");
        }
        return TypedResults.Stream(stream, "application/octet-stream", Path.GetFileName(path),
            entityTag: new EntityTagHeaderValue($"\"{artifact.Sha256}\""), enableRangeProcessing: true);
    }

    private static IResult? Validate(string? sha256, long size, KilnServerOptions options)
    {
        if (!ArtifactPaths.IsSha256(sha256))
        {
            return ApiProblems.Invalid("sha256", "must be 64 lower-case hex digits");
        }
        if (size < 0)
        {
            return ApiProblems.Invalid("size", "must be 0 or more");
        }
        if (size > options.MaxArtifactBytes)
        {
            return ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "Artifact too large",
                $"the artifact is {size.ToString("N0", CultureInfo.InvariantCulture)} bytes; this server accepts at most {options.MaxArtifactBytes.ToString("N0", CultureInfo.InvariantCulture)} (server option MaxArtifactBytes)");
        }
        return null;
    }

    private static IResult LeaseNotHeld(long id) => ApiProblems.Status(StatusCodes.Status409Conflict, "Lease not held",
        $"this lease does not hold a running attempt of work request {id}; its artifacts are closed");
}
