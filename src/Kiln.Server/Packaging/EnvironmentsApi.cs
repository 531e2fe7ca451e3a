using Kiln.Contracts;
using Kiln.Core;
using Kiln.Core.Kinds;
using Kiln.Server.Api;
using Kiln.Server.Security;
using Kiln.Store.Artifacts;
using Kiln.Store.Environments;
using Kiln.Store.Identity;
using Kiln.Store.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Kiln.Server.Packaging;

/// <summary>
/// <c>/api/v1/environments</c>: named root filesystems jobs run in (docs/packaging.md). Anyone who may
/// read the farm lists them; admins create, refresh and import them; workers fetch a version's tarball
/// by its hash — only a tarball that is an environment version, never another blob.
/// </summary>
public static class EnvironmentsApi
{
    private const int BodyMaxBytes = 16 * 1024;

    /// <summary>Largest tarball an import may upload (the blob store's limit for one environment).</summary>
    public const long MaxTarballBytes = 16L << 30;

    public static IEndpointRouteBuilder MapEnvironmentsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/environments").WithTags("Environments");
        group.MapGet("/", ListAsync).Allow(AccessPolicy.Read).Produces<EnvironmentList>()
            .WithSummary("Environments with their current version.");
        group.MapPost("/", CreateAsync).Allow(AccessPolicy.Admin).Accepts<CreateEnvironmentRequest>("application/json")
            .Produces<EnvironmentBuildResponse>(StatusCodes.Status201Created)
            .WithSummary("Admin: define an environment Kiln builds with mmdebstrap, and start building its first version.");
        group.MapGet("/{distribution}/{name}", ShowAsync).Allow(AccessPolicy.Read).Produces<EnvironmentDetail>()
            .WithSummary("An environment and its versions, newest first.");
        group.MapPost("/{distribution}/{name}/refresh", RefreshAsync).Allow(AccessPolicy.Admin).Produces<EnvironmentBuildResponse>()
            .WithSummary("Admin: build the environment's next version now (none is started while one builds).");
        group.MapPut("/{distribution}/{name}/upload", UploadAsync).Allow(AccessPolicy.Admin).Accepts<byte[]>("application/octet-stream")
            .Produces<ArtifactUploadResponse>()
            .WithSummary("Admin: upload a tarball's bytes at 'offset' (chunks of at most 4 MiB) before recording it as a version; answers the offset held.");
        group.MapPost("/{distribution}/{name}/versions", ImportAsync).Allow(AccessPolicy.Admin).Accepts<ImportEnvironmentRequest>("application/json")
            .Produces<EnvironmentDetail>(StatusCodes.Status201Created)
            .WithSummary("Admin: record an uploaded tarball as the environment's next version (an imported environment is created on first use).");
        group.MapGet("/blobs/{sha256}", DownloadAsync).Allow(AccessPolicy.Worker).AddEndpointFilter<WorkerAuthFilter>()
            .WithSummary("Worker: an environment version's tarball by its SHA-256; supports Range requests.");
        return routes;
    }

    private static async Task<IResult> ListAsync(EnvironmentStore store, CancellationToken ct) =>
        TypedResults.Ok(new EnvironmentList(await store.ListAsync(ct)));

    private static async Task<IResult> ShowAsync(string distribution, string name, EnvironmentStore store, CancellationToken ct)
    {
        var full = $"{distribution}/{name}";
        if (await store.GetAsync(full, ct) is not { } environment)
        {
            return ApiProblems.NotFound($"environment {full} does not exist; kiln env list shows the environments");
        }
        return TypedResults.Ok(new EnvironmentDetail(environment, await store.VersionsAsync(full, ct)));
    }

    private static async Task<IResult> CreateAsync(HttpContext http, EnvironmentStore store, EnvironmentBuilds builds, AuditStore audit, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<CreateEnvironmentRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var errors = Validate(body!);
        if (errors.Count > 0)
        {
            return ApiProblems.Invalid(errors);
        }
        var kind = BuiltInKinds.Find("kiln/environment")!;
        var mirror = body!.Mirror ?? kind.Parameters.First(p => p.Name == "mirror").Default!;
        var variant = body.Variant ?? kind.Parameters.First(p => p.Name == "variant").Default!;
        var created = await store.CreateAsync(body with { Packages = body.Packages ?? [] }, mirror, variant, Caller.Of(http).User?.UserId, ct);
        var environment = (await store.GetAsync(body.Name, ct))!;
        if (!created && (environment.Builder != "mmdebstrap" || environment.Suite != body.Suite || environment.Architecture != body.Architecture
                         || environment.Mirror != mirror || environment.Variant != variant
                         || !environment.Packages.SequenceEqual(body.Packages ?? []) || environment.RefreshHours != body.RefreshHours))
        {
            return ApiProblems.Conflict("name", $"environment {body.Name} exists with other settings; kiln env show {body.Name} shows them");
        }
        if (created)
        {
            await audit.RecordAsync(Caller.Of(http).Actor, "environment.create", $"environment:{body.Name}", body, ct);
        }
        var (workflow, refused) = created || environment.Current is null
            ? await builds.StartAsync(http, environment, "manual", ct)
            : (null, null);
        if (refused is not null)
        {
            return refused;
        }
        var response = new EnvironmentBuildResponse((await store.GetAsync(body.Name, ct))!, workflow ?? environment.BuildingWorkflowId);
        return created ? TypedResults.Created($"/api/v1/environments/{body.Name}", response) : TypedResults.Ok(response);
    }

    private static async Task<IResult> RefreshAsync(string distribution, string name, HttpContext http, EnvironmentStore store, EnvironmentBuilds builds, CancellationToken ct)
    {
        var full = $"{distribution}/{name}";
        if (await store.GetAsync(full, ct) is not { } environment)
        {
            return ApiProblems.NotFound($"environment {full} does not exist; kiln env list shows the environments");
        }
        var (workflow, refused) = await builds.StartAsync(http, environment, "manual", ct);
        if (refused is not null)
        {
            return refused;
        }
        var now = (await store.GetAsync(full, ct))!;
        return TypedResults.Ok(new EnvironmentBuildResponse(now, workflow ?? now.BuildingWorkflowId));
    }

    private static async Task<IResult> UploadAsync(
        string distribution, string name, string sha256, long size, long offset, HttpContext http, IBlobStore blobs, ArtifactStore artifacts, CancellationToken ct)
    {
        if (NameProblem($"{distribution}/{name}") is { } bad)
        {
            return ApiProblems.Invalid("name", bad);
        }
        if (BlobProblem(sha256, size) is { } invalid)
        {
            return invalid;
        }
        if (BlobChunks.Refusal(http.Request, size, offset) is { } refusal)
        {
            return refusal;
        }
        if (await blobs.ExistsAsync(sha256, size, ct))
        {
            await artifacts.AddBlobAsync(sha256, size, ct);
            return TypedResults.Ok(new ArtifactUploadResponse(true, size, null));
        }
        var (held, problem) = await BlobChunks.ReceiveAsync(http.Request, blobs, artifacts, sha256, size, offset, ct);
        if (problem is not null)
        {
            return problem;
        }
        return TypedResults.Ok(new ArtifactUploadResponse(held == size, held, null));
    }

    private static async Task<IResult> ImportAsync(
        string distribution, string name, HttpContext http, EnvironmentStore store, IBlobStore blobs, AuditStore audit, CancellationToken ct)
    {
        var full = $"{distribution}/{name}";
        if (NameProblem(full) is { } bad)
        {
            return ApiProblems.Invalid("name", bad);
        }
        var (body, problem) = await ApiJson.ReadAsync<ImportEnvironmentRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (BlobProblem(body!.Sha256, body.Size) is { } invalid)
        {
            return invalid;
        }
        if (!await blobs.ExistsAsync(body.Sha256, body.Size, ct))
        {
            return ApiProblems.Invalid("sha256", $"no tarball {body.Sha256} of {body.Size} bytes was uploaded; upload it first (kiln env import does both)");
        }
        if (await store.GetAsync(full, ct) is { Builder: not "imported" })
        {
            return ApiProblems.Conflict("name", $"environment {full} is built by Kiln (kiln env refresh {full}); import into a new name");
        }
        var version = await store.ImportAsync(full, body.Sha256, body.Size, Caller.Of(http).User?.UserId, ct);
        if (version is not null)
        {
            await audit.RecordAsync(Caller.Of(http).Actor, "environment.import", $"environment:{full}", new { version, body.Sha256, body.Size }, ct);
        }
        var detail = new EnvironmentDetail((await store.GetAsync(full, ct))!, await store.VersionsAsync(full, ct));
        return version is not null ? TypedResults.Created($"/api/v1/environments/{full}", detail) : TypedResults.Ok(detail);
    }

    private static async Task<IResult> DownloadAsync(string sha256, EnvironmentStore store, IBlobStore blobs, CancellationToken ct)
    {
        if (!Sha256Text(sha256) || !await store.IsEnvironmentBlobAsync(sha256, ct))
        {
            return ApiProblems.NotFound($"no environment version has the tarball {sha256}");
        }
        Stream? stream;
        try
        {
            stream = await blobs.OpenReadAsync(sha256, ct);
        }
        catch (BlobCorruptException e)
        {
            return ApiProblems.Status(StatusCodes.Status410Gone, "Content damaged", $"the environment tarball {sha256}: {e.Message}; import or refresh it again");
        }
        if (stream is null)
        {
            return ApiProblems.Status(StatusCodes.Status410Gone, "Content missing", $"the environment tarball {sha256} is no longer stored");
        }
        return TypedResults.Stream(stream, "application/zstd", $"{sha256}.tar.zst",
            entityTag: new EntityTagHeaderValue($"\"{sha256}\""), enableRangeProcessing: true);
    }

    private static List<ValidationError> Validate(CreateEnvironmentRequest body)
    {
        var errors = new List<ValidationError>();
        if (NameProblem(body.Name) is { } bad)
        {
            errors.Add(new("name", bad));
        }
        var kind = BuiltInKinds.Find("kiln/environment")!;
        void Check(string field, string parameter, string? value)
        {
            var p = kind.Parameters.First(p => p.Name == parameter);
            if (value is not null && !p.Pattern.IsMatch(value))
            {
                errors.Add(new(field, $"'{value}' is not valid: {p.Description}"));
            }
        }
        if (string.IsNullOrEmpty(body.Suite))
        {
            errors.Add(new("suite", "name the suite to bootstrap, e.g. bookworm"));
        }
        if (string.IsNullOrEmpty(body.Architecture))
        {
            errors.Add(new("architecture", "name the architecture, e.g. amd64"));
        }
        Check("suite", "suite", body.Suite);
        Check("architecture", "arch", body.Architecture);
        Check("mirror", "mirror", body.Mirror);
        Check("variant", "variant", body.Variant);
        if (body.Packages is { } packages)
        {
            if (packages.Count > 200)
            {
                errors.Add(new("packages", "at most 200 packages"));
            }
            else if (packages.Any(string.IsNullOrEmpty))
            {
                errors.Add(new("packages", "every entry must be a package name"));
            }
            else
            {
                Check("packages", "packages", string.Join(',', packages));
            }
        }
        if (body.RefreshHours is < 1 or > 24 * 366)
        {
            errors.Add(new("refreshHours", "must be 1 to 8784 hours (or unset: refresh only on demand)"));
        }
        return errors;
    }

    private static string? NameProblem(string? name) =>
        name is null ? "name the environment: DISTRIBUTION/NAME, e.g. debian/bookworm-amd64"
        : !Names.EnvironmentName().IsMatch(name) ? $"'{(name.Length > 60 ? name[..60] + "…" : name)}' is not an environment name: DISTRIBUTION/NAME in lower case, e.g. debian/bookworm-amd64"
        : name.StartsWith("blobs/", StringComparison.Ordinal) ? "'blobs' is reserved and cannot be a distribution name"
        : null;

    private static IResult? BlobProblem(string? sha256, long size) =>
        sha256 is null || !Sha256Text(sha256) ? ApiProblems.Invalid("sha256", "must be 64 lower-case hex digits")
        : size < 0 || size > MaxTarballBytes ? ApiProblems.Invalid("size", $"must be 0 to {MaxTarballBytes} bytes")
        : null;

    private static bool Sha256Text(string value) => value.Length == 64 && value.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');
}
