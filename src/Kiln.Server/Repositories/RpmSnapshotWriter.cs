using Kiln.Store.Repositories;

namespace Kiln.Server.Repositories;

/// <summary>
/// Writes one RPM snapshot: hard links to the repository's RPMs (from its rows), the previous snapshot's
/// repodata copied in, then <c>createrepo_c --update</c>, which reuses the metadata of every unchanged
/// package and reads only the new ones. The caller signs <c>repodata/repomd.xml</c>.
/// </summary>
public static class RpmSnapshotWriter
{
    private static readonly TimeSpan CreaterepoTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Writes the snapshot into <paramref name="directory"/>; returns the path of its repomd.xml.</summary>
    public static async Task<string> WriteAsync(RepositoryLayout layout, string directory, IReadOnlyList<RepositoryPackage> rows, int? previous, CancellationToken ct)
    {
        foreach (var row in rows)
        {
            RepositoryLayout.Link(Path.Combine(layout.Files, row.Filename), Path.Combine(directory, row.Filename));
        }
        Directory.CreateDirectory(directory);
        if (previous is { } p && Directory.Exists(Path.Combine(layout.Snapshot(p), "repodata")))
        {
            var target = Directory.CreateDirectory(Path.Combine(directory, "repodata"));
            foreach (var file in Directory.EnumerateFiles(Path.Combine(layout.Snapshot(p), "repodata")))
            {
                File.Copy(file, Path.Combine(target.FullName, Path.GetFileName(file)));
            }
        }
        await ToolRunner.CheckedAsync("createrepo_c", ["--update", "--no-database", "--quiet", directory], CreaterepoTimeout, ct,
            new Dictionary<string, string> { ["HOME"] = directory });
        return Path.Combine(directory, "repodata", "repomd.xml");
    }
}
