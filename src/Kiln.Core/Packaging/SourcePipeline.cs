using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kiln.Contracts;

namespace Kiln.Core.Packaging;

/// <summary>Where the pipeline's source job gets the source: an upload by id, or a packaging repository.</summary>
public sealed record PipelineSource(long? UploadId, string? Git, string? Ref);

/// <summary>
/// The project's built-in package pipelines (docs/packaging.md, "Building a source package"):
/// Debian: <c>source</c> (debian/source) → <c>build</c> (debian/sbuild, a matrix over the
/// architectures, in <c>debian/SUITE-${{ matrix.arch }}</c>) → <c>lintian</c> (allowed to fail) and
/// optionally <c>autopkgtest</c> (per architecture) → <c>publish</c> (apt/publish). RPM:
/// <c>source</c> (rpm/source) → <c>build</c> (rpm/rpmbuild) → <c>publish</c> (rpm/publish).
/// </summary>
public static partial class SourcePipeline
{
    public const string DefaultDebianSuite = "bookworm";
    public const string DefaultRpmSuite = "fedora-41";
    public const int MaxArchitectures = 16;

    [GeneratedRegex(@"^[a-z0-9][a-z0-9.+~_-]{0,63}$")]
    private static partial Regex Word();

    /// <summary>The options with defaults applied, or the field errors (fields under <paramref name="prefix"/>).</summary>
    public static (SourceBuildOptions Options, List<ValidationError> Errors) Normalise(SourceBuildOptions? given, bool rpm, string prefix)
    {
        var errors = new List<ValidationError>();
        var suite = given?.Suite ?? (rpm ? DefaultRpmSuite : DefaultDebianSuite);
        if (!Word().IsMatch(suite))
        {
            errors.Add(new($"{prefix}suite", $"'{Cut(suite)}' is not a suite name (bookworm, trixie, unstable, fedora-41…)"));
        }
        var archs = (given?.Architectures is { Count: > 0 } a ? a : ["amd64"]).Distinct(StringComparer.Ordinal).ToList();
        if (archs.Count > MaxArchitectures || archs.Any(x => x is null || !Word().IsMatch(x)))
        {
            errors.Add(new($"{prefix}architectures", $"at most {MaxArchitectures} architecture names (amd64, arm64, …)"));
        }
        if (given?.Environment is { } e && (e.Length is 0 or > 200 || SafeText.Problem(e, multiline: false) is not null))
        {
            errors.Add(new($"{prefix}environment", "must be an environment name such as debian/bookworm-amd64 (it may contain ${{ matrix.arch }})"));
        }
        return (new SourceBuildOptions
        {
            Suite = suite,
            Architectures = archs,
            Environment = given?.Environment,
            Lintian = !rpm && (given?.Lintian ?? true),
            Autopkgtest = !rpm && (given?.Autopkgtest ?? false),
        }, errors);
    }

    /// <summary>The environment of the build job of each architecture (a matrix reference where it varies).</summary>
    public static string EnvironmentTemplate(SourceBuildOptions options, bool rpm)
    {
        if (options.Environment is { } given)
        {
            return given;
        }
        var suite = options.Suite!;
        if (!rpm)
        {
            return $"debian/{suite}-${{{{ matrix.arch }}}}";
        }
        // fedora-41 → fedora/41-amd64; a suite without a dash → rpm/SUITE-amd64.
        var dash = suite.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 ? $"{suite[..dash]}/{suite[(dash + 1)..]}-${{{{ matrix.arch }}}}" : $"rpm/{suite}-${{{{ matrix.arch }}}}";
    }

    /// <summary>The environment names the pipeline names once its matrix is expanded (for resolution and idempotency keys).</summary>
    public static IReadOnlyList<string> EnvironmentNames(SourceBuildOptions options, bool rpm)
    {
        var template = EnvironmentTemplate(options, rpm);
        return [.. options.Architectures!.Select(a => Names.MatrixReference().Replace(template, m => m.Groups[1].Value == "arch" ? a : m.Value)).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The workflow document of the pipeline. <paramref name="options"/> must be normalised.</summary>
    public static WorkflowDocument Build(
        string project, bool rpm, PipelineSource source, string label, SourceBuildOptions options, string idempotencyKey, string trigger)
    {
        var suite = options.Suite!;
        var archs = options.Architectures!;
        var environment = EnvironmentTemplate(options, rpm);
        var matrix = new MatrixDocument { ["arch"] = [.. archs] };
        var sourceWith = new Dictionary<string, string>(StringComparer.Ordinal);
        if (source.UploadId is { } upload)
        {
            sourceWith["upload"] = upload.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        else
        {
            sourceWith["git"] = source.Git!;
            sourceWith["ref"] = source.Ref ?? "HEAD";
        }
        var jobs = new Dictionary<string, JobDocument>(StringComparer.Ordinal)
        {
            ["source"] = new() { Uses = rpm ? "rpm/source" : "debian/source", With = sourceWith },
            ["build"] = new()
            {
                Uses = rpm ? "rpm/rpmbuild" : "debian/sbuild",
                Needs = ["source"],
                Matrix = matrix,
                Environment = environment,
                With = new(StringComparer.Ordinal) { ["suite"] = suite, ["arch"] = "${{ matrix.arch }}" },
            },
        };
        var publishNeeds = new List<string> { "source", "build" };
        if (options.Lintian == true)
        {
            // One lintian run over every architecture's packages, in the first architecture's environment.
            var first = EnvironmentNames(options with { Architectures = [archs[0]] }, rpm)[0];
            jobs["lintian"] = new() { Uses = "debian/lintian", Needs = ["source", "build"], Environment = first, AllowFailure = true };
        }
        if (options.Autopkgtest == true)
        {
            jobs["autopkgtest"] = new()
            {
                Uses = "debian/autopkgtest",
                Needs = ["source", "build"],
                Matrix = new MatrixDocument { ["arch"] = [.. archs] },
                Environment = environment,
                With = new(StringComparer.Ordinal) { ["suite"] = suite },
            };
            publishNeeds.Add("autopkgtest");
        }
        jobs["publish"] = new() { Uses = rpm ? "rpm/publish" : "apt/publish", Needs = publishNeeds, With = new(StringComparer.Ordinal) { ["suite"] = suite } };
        return new WorkflowDocument
        {
            Name = $"{label} ({suite})",
            Project = project,
            IdempotencyKey = idempotencyKey,
            Trigger = trigger,
            Jobs = jobs,
        };
    }

    /// <summary>A short, stable hash of the options (part of an idempotency key: other options, another workflow).</summary>
    public static string OptionsHash(SourceBuildOptions options, params string[] more)
    {
        var text = JsonSerializer.Serialize(options) + "\n" + string.Join("\n", more);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..24];
    }

    private static string Cut(string value) => value.Length <= 40 ? value : value[..40] + "…";
}
