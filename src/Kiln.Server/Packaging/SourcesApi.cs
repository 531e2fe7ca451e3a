using System.Globalization;
using Kiln.Contracts;
using Kiln.Core.Packaging;
using Kiln.Server.Api;
using Kiln.Server.Security;
using Kiln.Store.Artifacts;
using Kiln.Store.Packaging;
using Kiln.Store.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Kiln.Server.Packaging;

/// <summary>
/// Source intake (kiln build): a contributor uploads each file's content (PUT …/sources/content, in
/// resumable chunks; content already stored is not sent again), then posts the upload — a .dsc and
/// the files it lists, or one .src.rpm — which is verified (<see cref="SourceVerification"/>),
/// recorded and built by the project's pipeline. Or it posts a packaging repository (git, ref).
/// Uploads and their files are readable as their project is (the debian/source job fetches them).
/// </summary>
public static class SourcesApi
{
    private const int BodyMaxBytes = 64 * 1024;

    public static IEndpointRouteBuilder MapSourcesApi(this IEndpointRouteBuilder routes)
    {
        var project = routes.MapGroup("/api/v1/projects/{name}/sources").WithTags("Sources");
        project.MapPut("/content", UploadAsync)
            .Accepts<byte[]>("application/octet-stream")
            .Produces<SourceContentResponse>()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .Allow(AccessPolicy.Submit)
            .WithSummary("Upload a source file's bytes at 'offset' ('sha256', 'size'; chunks of at most 4 MiB; resumable: answers the bytes held, all of them when the content is stored already). Contributor role.");
        project.MapPost("/", SubmitAsync)
            .Accepts<SubmitSourceRequest>("application/json")
            .Produces<SubmitSourceResponse>(StatusCodes.Status201Created)
            .Produces<SubmitSourceResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .Allow(AccessPolicy.Submit)
            .WithSummary("Record a source upload (a .dsc and the files it lists, or one .src.rpm; each file's size and hashes checked against the .dsc: 422 naming a missing, extra or mismatching file) and submit the project's package pipeline; or build a packaging repository (git, ref). The same upload again is the same workflow (200).");
        var sources = routes.MapGroup("/api/v1/sources/{id:long}").WithTags("Sources");
        sources.MapGet("/", GetAsync).Produces<SourceUploadView>().Allow(AccessPolicy.Read)
            .WithSummary("A source upload: its package, version and files with SHA-256 and size.");
        sources.MapGet("/files/{file}", DownloadAsync).Allow(AccessPolicy.Read)
            .WithSummary("The bytes of a file of a source upload; supports Range requests.");
        return routes;
    }

    private static async Task<IResult> UploadAsync(
        string name, string sha256, long size, long offset, HttpContext http, ProjectAccess access, SourceVerification verification,
        IBlobStore blobs, ArtifactStore artifacts, CancellationToken ct)
    {
        if (await access.SubmitAsync(http, name) is { } refused)
        {
            return refused;
        }
        if (!ArtifactPaths.IsSha256(sha256))
        {
            return ApiProblems.Invalid("sha256", "must be 64 lower-case hex digits");
        }
        if (verification.TooLarge(new SourceFileRef("the file", sha256, size)) is { } large)
        {
            return large;
        }
        if (BlobChunks.Refusal(http.Request, size, offset) is { } refusal)
        {
            return refusal;
        }
        if (await artifacts.BlobSizeAsync(sha256, ct) is { } stored && stored == size && await blobs.ExistsAsync(sha256, size, ct))
        {
            return TypedResults.Ok(new SourceContentResponse(sha256, size, true));
        }
        var (held, problem) = await BlobChunks.ReceiveAsync(http.Request, blobs, artifacts, sha256, size, offset, ct);
        if (problem is not null)
        {
            return problem;
        }
        return TypedResults.Ok(new SourceContentResponse(sha256, held, held == size));
    }

    private static async Task<IResult> SubmitAsync(
        string name, HttpContext http, ProjectAccess access, SourceVerification verification, SourceUploadStore uploads,
        PackagePipelines pipelines, CancellationToken ct)
    {
        if (await access.SubmitAsync(http, name) is { } refused)
        {
            return refused;
        }
        var (body, problem) = await ApiJson.ReadAsync<SubmitSourceRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        WorkflowSubmission.Outcome outcome;
        VerifiedSource? source = null;
        long? uploadId = null;
        if (body!.Git is not null)
        {
            if (body.Files is { Count: > 0 })
            {
                return ApiProblems.Invalid("git", "a build is of uploaded files or of a git repository, not both");
            }
            if (body.Format is not (null or "deb" or "rpm"))
            {
                return ApiProblems.Invalid("format", "must be deb or rpm");
            }
            var rpm = body.Format == "rpm";
            var (options, errors) = SourcePipeline.Normalise(body.Options, rpm, "options.");
            if (errors.Count > 0)
            {
                return ApiProblems.Invalid(errors);
            }
            // No idempotency key: building a branch again after a push is a new build.
            outcome = await pipelines.SubmitAsync(http, name, rpm, new PipelineSource(null, body.Git, body.Ref), $"{Label(body.Git)} {body.Ref ?? "HEAD"}",
                options, null, PackagePipelines.ManualTrigger, ct);
        }
        else
        {
            var (verified, refusal) = await verification.VerifyAsync(body.Files, ct);
            if (refusal is not null)
            {
                return refusal;
            }
            source = verified!;
            var rpm = source.Format == "srpm";
            var (options, errors) = SourcePipeline.Normalise(body.Options, rpm, "options.");
            if (errors.Count > 0)
            {
                return ApiProblems.Invalid(errors);
            }
            var projectId = await uploads.ProjectIdAsync(name, ct) ?? throw new InvalidOperationException($"project {name} vanished during the upload");
            (uploadId, _) = await uploads.CreateAsync(projectId, source.Format, source.Package, source.Version, Caller.Of(http).User?.UserId, source.Files, ct);
            var key = $"source:{uploadId.Value.ToString(CultureInfo.InvariantCulture)}:{SourcePipeline.OptionsHash(options)}";
            outcome = await pipelines.SubmitAsync(http, name, rpm, new PipelineSource(uploadId, null, null), $"{source.Package} {source.Version}",
                options, key, PackagePipelines.ManualTrigger, ct);
        }
        if (outcome.Problem is not null)
        {
            return outcome.Problem;
        }
        var stored = outcome.Stored!;
        var answer = new SubmitSourceResponse(uploadId, source?.Package, source?.Version, stored.WorkflowId, stored.Created, stored.WorkRequests);
        return stored.Created ? TypedResults.Created($"/api/v1/workflows/{stored.WorkflowId}", answer) : TypedResults.Ok(answer);
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, SourceUploadStore uploads, CancellationToken ct)
    {
        if (ProjectAccess.Decide(Caller.Of(http), await uploads.OfUploadAsync(id, ct), ProjectNeed.Read, $"source upload {id} does not exist") is { } refused)
        {
            return refused;
        }
        return await uploads.GetAsync(id, ct) is { } view ? TypedResults.Ok(view) : ApiProblems.NotFound($"source upload {id} does not exist");
    }

    private static async Task<IResult> DownloadAsync(long id, string file, HttpContext http, SourceUploadStore uploads, IBlobStore blobs, CancellationToken ct)
    {
        if (ProjectAccess.Decide(Caller.Of(http), await uploads.OfUploadAsync(id, ct), ProjectNeed.Read, $"source upload {id} does not exist") is { } refused)
        {
            return refused;
        }
        if (await uploads.GetAsync(id, ct) is not { } view || view.Files.FirstOrDefault(f => f.Name == file) is not { } found)
        {
            return ApiProblems.NotFound($"source upload {id} has no file '{(file.Length > 100 ? file[..100] : file)}'");
        }
        Stream? stream;
        try
        {
            stream = await blobs.OpenReadAsync(found.Sha256, ct);
        }
        catch (BlobCorruptException e)
        {
            return ApiProblems.Status(StatusCodes.Status410Gone, "Content damaged", $"the content of '{found.Name}': {e.Message}");
        }
        if (stream is null)
        {
            return ApiProblems.Status(StatusCodes.Status410Gone, "Content missing", $"the content of '{found.Name}' ({found.Sha256}) is no longer stored");
        }
        return TypedResults.Stream(stream, "application/octet-stream", found.Name,
            entityTag: new EntityTagHeaderValue($"\"{found.Sha256}\""), enableRangeProcessing: true);
    }

    /// <summary>The repository's last path segment, for the workflow's name.</summary>
    private static string Label(string url)
    {
        var trimmed = url.TrimEnd('/');
        var last = trimmed[(trimmed.LastIndexOf('/') + 1)..];
        return last.EndsWith(".git", StringComparison.Ordinal) ? last[..^4] : last;
    }
}
