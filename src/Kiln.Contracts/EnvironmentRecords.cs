namespace Kiln.Contracts;

/// <summary>
/// <c>POST /api/v1/environments</c>: define an environment Kiln builds with mmdebstrap, and build its first version.
/// </summary>
/// <param name="Name">DISTRIBUTION/NAME, e.g. <c>debian/bookworm-amd64</c>.</param>
/// <param name="Suite">The suite to bootstrap (bookworm).</param>
/// <param name="Architecture">Debian architecture (amd64); the build runs on a worker of that architecture.</param>
/// <param name="Mirror">The mirror (default http://deb.debian.org/debian).</param>
/// <param name="Variant">mmdebstrap's variant (default buildd: essential + build-essential + apt).</param>
/// <param name="Packages">Extra packages to include.</param>
/// <param name="RefreshHours">Rebuild this often (at least every 1 hour); null: only with kiln env refresh.</param>
public sealed record CreateEnvironmentRequest(
    string Name, string Suite, string Architecture, string? Mirror = null, string? Variant = null,
    IReadOnlyList<string>? Packages = null, int? RefreshHours = null);

/// <summary>An environment and its current version.</summary>
/// <param name="Builder"><c>mmdebstrap</c> (Kiln builds it) or <c>imported</c> (tarballs uploaded with kiln env import).</param>
/// <param name="Current">The version new jobs get; null until the first build or import finishes.</param>
/// <param name="BuildingWorkflowId">The workflow building the next version, while it runs.</param>
public sealed record EnvironmentView(
    string Name, string Builder, string? Suite, string? Architecture, string? Mirror, string? Variant,
    IReadOnlyList<string> Packages, int? RefreshHours, EnvironmentVersionView? Current, long? BuildingWorkflowId,
    DateTimeOffset CreatedAt);

/// <summary>One version: a tarball in the blob store, named by its SHA-256.</summary>
/// <param name="WorkRequestId">The job that built it; null when imported.</param>
public sealed record EnvironmentVersionView(int Version, string Sha256, long Size, long? WorkRequestId, DateTimeOffset CreatedAt);

/// <summary>An environment with every version, newest first.</summary>
public sealed record EnvironmentDetail(EnvironmentView Environment, IReadOnlyList<EnvironmentVersionView> Versions);

/// <summary>The environments, by name.</summary>
public sealed record EnvironmentList(IReadOnlyList<EnvironmentView> Items);

/// <summary>What creating or refreshing an environment started.</summary>
/// <param name="WorkflowId">The build's workflow (follow it with kiln watch); null when a build was already running and that one counts.</param>
public sealed record EnvironmentBuildResponse(EnvironmentView Environment, long? WorkflowId);

/// <summary><c>POST …/versions</c>: record an uploaded tarball (its blob) as the next version of an imported environment.</summary>
public sealed record ImportEnvironmentRequest(string Sha256, long Size);
