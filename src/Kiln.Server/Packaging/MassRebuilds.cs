using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Kiln.Contracts;
using Kiln.Core.Packaging;
using Kiln.Server.Api;
using Kiln.Server.Security;
using Kiln.Store.Artifacts;
using Kiln.Store.Environments;
using Kiln.Store.Packaging;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Packaging;

/// <summary>
/// Mass rebuilds (kiln rebuild): the source packages a project's APT repository publishes for a
/// suite (or the named ones) are planned as a rebuild — each published .dsc and its pool files
/// become a source upload, in one transaction — then submitted in batches, one workflow per
/// package with the <c>mass-rebuild</c> trigger, idempotent per (package, version, environment
/// hashes, options): a rebuild repeated after nothing changed creates nothing new.
/// </summary>
public sealed partial class MassRebuilds(
    RebuildStore rebuilds, SourceUploadStore uploads, IBlobStore blobs, ProjectAccess access, EnvironmentResolver environments, PackagePipelines pipelines)
{
    /// <summary>Most packages one rebuild covers.</summary>
    public const int MaxPackages = 10_000;

    /// <summary>Most items one submit call submits.</summary>
    public const int MaxBatch = 100;

    [GeneratedRegex(@"^[a-z0-9][a-z0-9.+-]{0,99}$")]
    private static partial Regex SourceName();

    public async Task<(StartRebuildResponse? Answer, IResult? Problem)> StartAsync(HttpContext http, string project, StartRebuildRequest request, CancellationToken ct)
    {
        if (await access.ProjectAsync(http, project, ProjectNeed.Prioritise) is { } refused)
        {
            return (null, refused);
        }
        if (request.Suite is null)
        {
            return (null, ApiProblems.Invalid("suite", "name the suite to rebuild (bookworm, …)"));
        }
        if ((request.AllPublished == true) == (request.Packages is not null))
        {
            return (null, ApiProblems.Invalid("packages", "give either 'packages' (source package names) or 'allPublished': true"));
        }
        var names = request.Packages?.Distinct(StringComparer.Ordinal).ToList() ?? [];
        if (names.Count > MaxPackages)
        {
            return (null, ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "Too many packages", $"a rebuild covers at most {MaxPackages} packages; split the list"));
        }
        if (request.Packages is { Count: 0 })
        {
            return (null, ApiProblems.Invalid("packages", "the list is empty"));
        }
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] is null || !SourceName().IsMatch(names[i]))
            {
                return (null, ApiProblems.Invalid($"packages[{i}]", $"'{Cut(names[i] ?? "")}' is not a source package name"));
            }
        }
        var (options, errors) = SourcePipeline.Normalise((request.Options ?? new SourceBuildOptions()) with { Suite = request.Suite }, rpm: false, "options.");
        if (errors.Count > 0)
        {
            return (null, ApiProblems.Invalid([.. errors.Select(e => e.Field == "options.suite" ? e with { Field = "suite" } : e)]));
        }
        if (await MissingEnvironmentsAsync(options, ct) is { } missing)
        {
            return (null, missing);
        }
        var projectId = (await uploads.ProjectIdAsync(project, ct))!.Value;
        var published = await rebuilds.PublishedAsync(projectId, options.Suite!, names, MaxPackages + 1, ct);
        if (published.Count > MaxPackages)
        {
            return (null, ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "Too many packages", $"the repository publishes more than {MaxPackages} source packages; rebuild them in parts with 'packages'"));
        }
        var unknown = names.Except(published.Select(p => p.Package), StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var items = new List<PendingRebuildItem>();
        var user = Caller.Of(http).User?.UserId;
        foreach (var source in published)
        {
            var (files, problem) = await SourceFilesAsync(source, ct);
            if (files is null)
            {
                unknown.Add($"{source.Package} ({problem})");
                continue;
            }
            var (upload, _) = await uploads.CreateAsync(projectId, "dsc", source.Package, source.Version, user, files, ct);
            items.Add(new PendingRebuildItem(source.Package, source.Version, upload));
        }
        var key = Hash(options.Suite + "\n" + SourcePipeline.OptionsHash(options) + "\n" + string.Join("\n", items.Select(i => $"{i.Package} {i.Version} {i.UploadId}")));
        var (id, created) = await rebuilds.CreateAsync(projectId, options.Suite!, user, options, key, items, ct);
        var pending = (await rebuilds.CountsAsync(id, ct)).GetValueOrDefault("pending");
        return (new StartRebuildResponse(id, created, items.Count, pending, unknown), null);
    }

    public async Task<(RebuildSubmitResponse? Answer, IResult? Problem)> SubmitAsync(HttpContext http, long id, int max, CancellationToken ct)
    {
        if (ProjectAccess.Decide(Caller.Of(http), await rebuilds.OfRebuildAsync(id, ct), ProjectNeed.Prioritise, $"rebuild {id} does not exist") is { } refused)
        {
            return (null, refused);
        }
        if (max is < 1 or > MaxBatch)
        {
            return (null, ApiProblems.Invalid("max", $"must be 1 to {MaxBatch}"));
        }
        var rebuild = (await rebuilds.GetAsync(id, ct))!;
        // Stored normalised; normalising again keeps a row written without options (or by an older server) buildable.
        var (options, _) = SourcePipeline.Normalise(rebuild.Options with { Suite = rebuild.Suite }, rpm: false, "");
        var names = SourcePipeline.EnvironmentNames(options, rpm: false);
        var current = await environments.CurrentAsync([.. names], ct);
        // The environments' hashes are part of each key: after a refresh the same package rebuilds again.
        var environmentKey = string.Join(",", names.Order(StringComparer.Ordinal).Select(n => $"{n}={current.GetValueOrDefault(n)?.Sha256}"));
        var submitted = 0;
        foreach (var item in await rebuilds.PendingAsync(id, max, ct))
        {
            var key = $"rebuild:{Cut(item.Package, 60)}:{Hash($"{item.Package}\n{item.Version}\n{environmentKey}\n{SourcePipeline.OptionsHash(options)}")[..40]}";
            var outcome = await pipelines.SubmitAsync(http, rebuild.Project, rpm: false, new PipelineSource(item.UploadId, null, null),
                $"rebuild {item.Package} {item.Version}", options, key, PackagePipelines.MassRebuildTrigger, ct);
            if (outcome.Problem is not null)
            {
                return (null, outcome.Problem);
            }
            await rebuilds.SetWorkflowAsync(id, item.Package, outcome.Stored!.WorkflowId, ct);
            submitted++;
        }
        var counts = await rebuilds.CountsAsync(id, ct);
        return (new RebuildSubmitResponse(id, submitted, counts.GetValueOrDefault("pending"), counts.Values.Sum()), null);
    }

    public async Task<IResult> GetAsync(HttpContext http, long id, CancellationToken ct)
    {
        if (ProjectAccess.Decide(Caller.Of(http), await rebuilds.OfRebuildAsync(id, ct), ProjectNeed.Read, $"rebuild {id} does not exist") is { } refused)
        {
            return refused;
        }
        var rebuild = (await rebuilds.GetAsync(id, ct))!;
        var counts = await rebuilds.CountsAsync(id, ct);
        var failures = await rebuilds.FailuresAsync(id, 1000, ct);
        return TypedResults.Ok(new RebuildView(id, rebuild.Project, rebuild.Suite, rebuild.CreatedAt, counts.Values.Sum(), counts, failures));
    }

    private async Task<IResult?> MissingEnvironmentsAsync(SourceBuildOptions options, CancellationToken ct)
    {
        var names = SourcePipeline.EnvironmentNames(options, rpm: false);
        var current = await environments.CurrentAsync([.. names], ct);
        var missing = names.Where(n => !current.ContainsKey(n)).ToList();
        return missing.Count == 0 ? null : ApiProblems.Status(StatusCodes.Status422UnprocessableEntity, "Environment missing",
            $"environment {string.Join(", ", missing)} does not exist or has no built version yet; make it with kiln env create, or name another with options.environment");
    }

    /// <summary>The published .dsc and the pool files it lists (checked against the .dsc), named as in the .dsc.</summary>
    private async Task<(List<SourceFileRef>? Files, string? Problem)> SourceFilesAsync(PublishedSource source, CancellationToken ct)
    {
        if (source.Size > DscFile.MaxBytes)
        {
            return (null, "its .dsc is too large");
        }
        string text;
        await using (var stream = await blobs.OpenReadAsync(source.Sha256, ct))
        {
            if (stream is null)
            {
                return (null, "its .dsc is no longer stored");
            }
            using var reader = new StreamReader(stream, new UTF8Encoding(false));
            text = await reader.ReadToEndAsync(ct);
        }
        if (DscFile.Parse(text, out var problem) is not { } dsc)
        {
            return (null, $"its .dsc does not parse: {problem}");
        }
        var directory = source.Filename.Contains('/', StringComparison.Ordinal) ? source.Filename[..(source.Filename.LastIndexOf('/') + 1)] : "";
        var pool = await rebuilds.PoolFilesAsync(source.RepositoryId, [.. dsc.Files.Select(f => directory + f.Name)], ct);
        List<SourceFileRef> files = [new SourceFileRef(Path.GetFileName(source.Filename), source.Sha256, source.Size)];
        foreach (var entry in dsc.Files)
        {
            if (!pool.TryGetValue(directory + entry.Name, out var file) || file.Size != entry.Size || (entry.Sha256 is { } sha && sha != file.Sha256))
            {
                return (null, $"{entry.Name}, which its .dsc lists, is not in the pool as the .dsc says");
            }
            files.Add(new SourceFileRef(entry.Name, file.Sha256, file.Size));
        }
        return (files, null);
    }

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static string Cut(string value, int length = 40) => value.Length <= length ? value : value[..length];
}
