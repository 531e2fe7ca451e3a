namespace Kiln.Contracts;

/// <summary>
/// A published repository of a project (<c>GET /api/v1/projects/{name}/repositories</c>): per suite, APT or RPM,
/// the snapshot now served and how a machine uses it.
/// </summary>
/// <param name="Url">Where it is served: <c>SERVER/repos/PROJECT/SUITE</c>.</param>
/// <param name="KeyUrl">The project's public signing key, armored (<c>key.asc</c>); <c>key.gpg</c> beside it is binary.</param>
/// <param name="SourcesLine">APT: the <c>sources.list</c> line; RPM: a <c>.repo</c> file.</param>
/// <param name="KeySetup">The shell command that fetches the key to where <see cref="SourcesLine"/> expects it (APT), else null.</param>
public sealed record RepositoryView(
    string Project, string Suite, string Format, int Snapshot, DateTimeOffset? PublishedAt, long Packages,
    string Url, string KeyUrl, string SourcesLine, string? KeySetup);

/// <summary>One file of a repository's pool: a binary or source package (or a file a .dsc lists).</summary>
public sealed record RepositoryPackageView(
    string Package, string Version, string Architecture, string Filename, string Sha256, long Size,
    string? SourcePackage, long? WorkRequestId, DateTimeOffset PublishedAt);

/// <summary>A repository with a page of its files, by filename (<c>next</c>: pass as <c>after</c> for the next page).</summary>
public sealed record RepositoryDetail(RepositoryView Repository, IReadOnlyList<RepositoryPackageView> Packages, string? Next);
