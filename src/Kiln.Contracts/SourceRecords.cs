namespace Kiln.Contracts;

/// <summary>A file of a source upload, by name, SHA-256 and size (its content uploaded with PUT …/sources/content).</summary>
public sealed record SourceFileRef(string Name, string Sha256, long Size);

/// <summary>How the project's pipeline builds a source package (kiln build, mass rebuilds).</summary>
public sealed record SourceBuildOptions
{
    /// <summary>The suite to build for and publish to (default bookworm for Debian, fedora-41 for RPM).</summary>
    public string? Suite { get; init; }

    /// <summary>Architectures to build (Debian names; default amd64).</summary>
    public List<string>? Architectures { get; init; }

    /// <summary>The environment of the build jobs instead of <c>debian/SUITE-ARCH</c>; may contain <c>${{ matrix.arch }}</c>.</summary>
    public string? Environment { get; init; }

    /// <summary>Run lintian (allowed to fail) after the build (Debian; default true).</summary>
    public bool? Lintian { get; init; }

    /// <summary>Run autopkgtest per architecture after the build (Debian; default false).</summary>
    public bool? Autopkgtest { get; init; }
}

/// <summary>
/// POST /api/v1/projects/{name}/sources: either the files of an upload (a .dsc and the files it lists, or one
/// .src.rpm), whose content is stored already, or a packaging repository (<see cref="Git"/>, <see cref="Ref"/>).
/// </summary>
public sealed record SubmitSourceRequest
{
    public List<SourceFileRef>? Files { get; init; }

    /// <summary>A packaging repository to build instead of uploaded files.</summary>
    public string? Git { get; init; }

    /// <summary>The branch, tag or commit of <see cref="Git"/> (default HEAD).</summary>
    public string? Ref { get; init; }

    /// <summary>With <see cref="Git"/>: deb (default) or rpm.</summary>
    public string? Format { get; init; }

    public SourceBuildOptions? Options { get; init; }
}

/// <summary>The upload (null for a git build) and the workflow that builds it.</summary>
public sealed record SubmitSourceResponse(long? UploadId, string? Package, string? Version, long WorkflowId, bool Created, int WorkRequests);

/// <summary>The bytes of one file held so far by the server (the offset to continue from).</summary>
public sealed record SourceContentResponse(string Sha256, long Held, bool Complete);

/// <summary>A stored source upload.</summary>
public sealed record SourceUploadView(
    long Id, string Project, string Format, string Package, string Version, string? UploadedBy, DateTimeOffset CreatedAt, IReadOnlyList<SourceFileRef> Files);

/// <summary>POST /api/v1/projects/{name}/rebuilds: rebuild the named source packages, or every one published for the suite.</summary>
public sealed record StartRebuildRequest
{
    public string? Suite { get; init; }

    public List<string>? Packages { get; init; }

    public bool? AllPublished { get; init; }

    /// <summary>Architectures, environment and lintian as for a build; the suite is the rebuild's.</summary>
    public SourceBuildOptions? Options { get; init; }
}

/// <summary>A rebuild as planned: its items, how many are still to submit, and the names not found in the repository.</summary>
public sealed record StartRebuildResponse(long Id, bool Created, int Total, int Pending, IReadOnlyList<string> Unknown);

/// <summary>One batch of a rebuild's submission (POST /api/v1/rebuilds/{id}/submit).</summary>
public sealed record RebuildSubmitResponse(long Id, int Submitted, int Pending, int Total);

/// <summary>A package of a rebuild that failed to build: its workflow and the first job that failed.</summary>
public sealed record RebuildFailure(string Package, string Version, long WorkflowId, string? Job);

/// <summary>A rebuild's state: its items counted by workflow state (<c>pending</c>: not submitted yet) and what failed.</summary>
public sealed record RebuildView(
    long Id, string Project, string Suite, DateTimeOffset CreatedAt, int Total, IReadOnlyDictionary<string, int> States, IReadOnlyList<RebuildFailure> Failures);
