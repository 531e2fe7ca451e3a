using System.Globalization;

namespace Kiln.Server.Repositories;

/// <summary>
/// A repository on disk, DATA_DIR/repos/PROJECT/SUITE/: <c>files/</c> holds every published pool file once
/// (by its pool path); <c>snapshots/N/</c> is a complete tree of indices and hard links to those files;
/// <c>current</c> is a symbolic link to the snapshot served, replaced with rename(2) so a reader sees the
/// old tree or the new one, never a mix; <c>incoming/</c> holds a publish's files before they are accepted.
/// </summary>
public sealed class RepositoryLayout(string reposDirectory, string project, string suite)
{
    /// <summary>Snapshots kept besides the one served, for clients that read an older Release moments ago.</summary>
    public const int KeptSnapshots = 4;

    public string Root { get; } = Path.Combine(reposDirectory, project, suite);

    public string Files => Path.Combine(Root, "files");

    public string Incoming => Path.Combine(Root, "incoming");

    public string Snapshots => Path.Combine(Root, "snapshots");

    public string Current => Path.Combine(Root, "current");

    public string Snapshot(int number) => Path.Combine(Snapshots, number.ToString(CultureInfo.InvariantCulture));

    /// <summary>The numbers of the snapshot directories present, oldest first.</summary>
    public IReadOnlyList<int> SnapshotNumbers() => Directory.Exists(Snapshots)
        ? [.. Directory.EnumerateDirectories(Snapshots)
            .Select(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1)
            .Where(n => n > 0).Order()]
        : [];

    /// <summary>
    /// The next snapshot's number: past the database's and past any directory a publish left behind
    /// (one that switched <c>current</c> and then could not commit), so a served tree is never rewritten.
    /// </summary>
    public int NextSnapshot(int committed) => Math.Max(committed, SnapshotNumbers().DefaultIfEmpty(0).Max()) + 1;

    /// <summary>The number of the snapshot <c>current</c> names, or null before the first publish.</summary>
    public int? CurrentNumber()
    {
        var target = new FileInfo(Current).LinkTarget;
        return target is not null && int.TryParse(Path.GetFileName(target), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    /// <summary>Points <c>current</c> at snapshot <paramref name="number"/> atomically (a new link renamed over the old).</summary>
    public void Switch(int number)
    {
        var link = Path.Combine(Root, $"current.{Guid.NewGuid():N}");
        File.CreateSymbolicLink(link, Path.Combine("snapshots", number.ToString(CultureInfo.InvariantCulture)));
        PosixFiles.Rename(link, Current);
    }

    /// <summary>Removes snapshots older than the <see cref="KeptSnapshots"/> before the one served. Open files stay readable.</summary>
    public void Prune(int current)
    {
        foreach (var number in SnapshotNumbers().Where(n => n < current - KeptSnapshots))
        {
            Directory.Delete(Snapshot(number), recursive: true);
        }
    }

    /// <summary>Hard-links (or, across file systems, copies) <paramref name="source"/> to <paramref name="destination"/>.</summary>
    public static void Link(string source, string destination)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        if (File.Exists(destination))
        {
            return;
        }
        if (PosixFiles.HardLink(source, destination) != 0)
        {
            File.Copy(source, destination);
        }
    }
}
