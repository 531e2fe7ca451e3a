using Kiln.Server.Hosting;

namespace Kiln.Server.Repositories;

/// <summary>Where repositories and signing keys live: DATA_DIR/repos/ and DATA_DIR/signing/ (docs/operations.md).</summary>
public sealed class RepositoryPaths(KilnServerOptions options)
{
    public string Repos { get; } = Path.GetFullPath(Path.Combine(options.DataDirectory, "repos"));

    public string Signing { get; } = Path.GetFullPath(Path.Combine(options.DataDirectory, "signing"));

    public RepositoryLayout Layout(string project, string suite) => new(Repos, project, suite);
}
