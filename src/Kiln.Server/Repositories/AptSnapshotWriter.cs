using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Kiln.Store.Repositories;

namespace Kiln.Server.Repositories;

/// <summary>
/// Writes one APT snapshot from the repository's rows (the database is the truth, the pool is not
/// rescanned): hard links to every pool file, <c>dists/SUITE/main/binary-ARCH/Packages</c> (arch
/// <c>all</c> packages in every architecture's), <c>main/debian-installer/…</c> for .udebs,
/// <c>main/source/Sources</c>, each also gzipped and under <c>by-hash/SHA256/</c> (with the indices of
/// the kept older snapshots, so a client that read an older InRelease still finds what it names),
/// and an unsigned <c>Release</c>; the caller signs it.
/// </summary>
public static class AptSnapshotWriter
{
    /// <summary>The architectures listed when a suite has only architecture-independent packages.</summary>
    public static readonly IReadOnlyList<string> DefaultArchitectures = ["amd64"];

    /// <summary>Writes the snapshot into <paramref name="directory"/>; returns the path of its Release file.</summary>
    public static async Task<string> WriteAsync(
        RepositoryLayout layout, string directory, string project, string suite, IReadOnlyList<RepositoryPackage> rows,
        IReadOnlyList<int> olderSnapshots, DateTimeOffset now, CancellationToken ct)
    {
        foreach (var row in rows)
        {
            RepositoryLayout.Link(Path.Combine(layout.Files, row.Filename), Path.Combine(directory, row.Filename));
        }
        var dists = Path.Combine(directory, "dists", suite);
        var binaries = rows.Where(r => r.Architecture is not ("source" or "src")).ToList();
        var architectures = binaries.Select(r => r.Architecture).Where(a => a != "all").Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (architectures.Count == 0)
        {
            architectures = [.. DefaultArchitectures];
        }
        var indices = new List<string>();
        foreach (var (component, extension) in new[] { ("main", ".deb"), ("main/debian-installer", ".udeb") })
        {
            var ofComponent = binaries.Where(r => r.Filename.EndsWith(extension, StringComparison.Ordinal)).ToList();
            if (component != "main" && ofComponent.Count == 0)
            {
                continue;
            }
            foreach (var arch in architectures)
            {
                var stanzas = ofComponent.Where(r => r.Architecture == arch || r.Architecture == "all")
                    .OrderBy(r => r.Package, StringComparer.Ordinal).ThenBy(r => r.Filename, StringComparer.Ordinal)
                    .Select(PackagesStanza);
                indices.AddRange(await WriteIndexAsync(dists, $"{component}/binary-{arch}/Packages", stanzas, ct));
            }
        }
        var sources = rows.Where(r => r.Architecture == "source" && r.Filename.EndsWith(".dsc", StringComparison.Ordinal)).ToList();
        if (sources.Count > 0)
        {
            var byDirectory = rows.Where(r => r.Architecture == "source").ToLookup(r => Path.GetDirectoryName(r.Filename)!, StringComparer.Ordinal);
            var stanzas = sources.OrderBy(r => r.Package, StringComparer.Ordinal).ThenBy(r => r.Filename, StringComparer.Ordinal)
                .Select(dsc => SourcesStanza(dsc, byDirectory[Path.GetDirectoryName(dsc.Filename)!]));
            indices.AddRange(await WriteIndexAsync(dists, "main/source/Sources", stanzas, ct));
        }

        var release = new StringBuilder();
        release.Append(CultureInfo.InvariantCulture, $"Origin: Kiln {project}\nLabel: Kiln {project}\nSuite: {suite}\nCodename: {suite}\n");
        release.Append(CultureInfo.InvariantCulture, $"Date: {now.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss 'UTC'", CultureInfo.InvariantCulture)}\n");
        release.Append(CultureInfo.InvariantCulture, $"Architectures: {string.Join(' ', architectures)}\nComponents: main\n");
        release.Append(CultureInfo.InvariantCulture, $"Description: Kiln's repository of project {project}, suite {suite}\nAcquire-By-Hash: yes\n");
        var hashes = new List<(string Index, long Size, string Md5, string Sha256)>();
        foreach (var index in indices)
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(dists, index), ct);
            hashes.Add((index, bytes.LongLength, Md5(bytes), Convert.ToHexStringLower(SHA256.HashData(bytes))));
        }
        release.Append("MD5Sum:\n");
        foreach (var h in hashes)
        {
            release.Append(CultureInfo.InvariantCulture, $" {h.Md5} {h.Size,16} {h.Index}\n");
        }
        release.Append("SHA256:\n");
        foreach (var h in hashes)
        {
            release.Append(CultureInfo.InvariantCulture, $" {h.Sha256} {h.Size,16} {h.Index}\n");
        }
        var releasePath = Path.Combine(dists, "Release");
        await File.WriteAllTextAsync(releasePath, release.ToString(), ct);

        // by-hash: this snapshot's indices, then those the kept older snapshots' Release files name.
        foreach (var h in hashes)
        {
            RepositoryLayout.Link(Path.Combine(dists, h.Index), ByHash(dists, h.Index, h.Sha256));
        }
        foreach (var older in olderSnapshots)
        {
            var olderDists = Path.Combine(layout.Snapshot(older), "dists", suite);
            foreach (var (index, sha256) in ReleaseSha256(Path.Combine(olderDists, "Release")))
            {
                if (File.Exists(Path.Combine(olderDists, index)))
                {
                    RepositoryLayout.Link(Path.Combine(olderDists, index), ByHash(dists, index, sha256));
                }
            }
        }
        return releasePath;
    }

    private static string ByHash(string dists, string index, string sha256) =>
        Path.Combine(dists, Path.GetDirectoryName(index)!, "by-hash", "SHA256", sha256);

    /// <summary>The (index, SHA-256) pairs of a Release file's SHA256 section; none when it is missing.</summary>
    public static IEnumerable<(string Index, string Sha256)> ReleaseSha256(string release)
    {
        if (!File.Exists(release))
        {
            yield break;
        }
        var inSection = false;
        foreach (var line in File.ReadLines(release))
        {
            if (!line.StartsWith(' '))
            {
                inSection = line == "SHA256:";
                continue;
            }
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (inSection && parts.Length == 3 && !parts[2].Contains("..", StringComparison.Ordinal))
            {
                yield return (parts[2], parts[0]);
            }
        }
    }

    private static string PackagesStanza(RepositoryPackage row) =>
        $"{row.Control}\nFilename: {row.Filename}\nSize: {row.Size.ToString(CultureInfo.InvariantCulture)}\nMD5sum: {row.Md5}\nSHA256: {row.Sha256}\n";

    /// <summary>A .dsc's paragraph as a Sources stanza: Source becomes Package, with Directory and the checksums of the .dsc and its files.</summary>
    private static string SourcesStanza(RepositoryPackage dsc, IEnumerable<RepositoryPackage> directory)
    {
        var paragraph = DebianStanza.Parse(dsc.Control ?? "");
        var listed = paragraph.Lines("Checksums-Sha256").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]).ToHashSet(StringComparer.Ordinal);
        var files = directory.Where(f => f.Filename == dsc.Filename || listed.Contains(Path.GetFileName(f.Filename)))
            .OrderBy(f => f.Filename, StringComparer.Ordinal).ToList();
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Package: {dsc.Package}\n");
        var rest = paragraph.Render("Source", "Files", "Checksums-Sha1", "Checksums-Sha256", "Checksums-Sha512", "Directory");
        if (rest.Length > 0)
        {
            text.Append(rest).Append('\n');
        }
        text.Append(CultureInfo.InvariantCulture, $"Directory: {Path.GetDirectoryName(dsc.Filename)}\nFiles:\n");
        foreach (var f in files)
        {
            text.Append(CultureInfo.InvariantCulture, $" {f.Md5} {f.Size} {Path.GetFileName(f.Filename)}\n");
        }
        text.Append("Checksums-Sha256:\n");
        foreach (var f in files)
        {
            text.Append(CultureInfo.InvariantCulture, $" {f.Sha256} {f.Size} {Path.GetFileName(f.Filename)}\n");
        }
        return text.ToString();
    }

    /// <summary>Writes an index and its .gz; returns both paths relative to dists/SUITE.</summary>
    private static async Task<string[]> WriteIndexAsync(string dists, string index, IEnumerable<string> stanzas, CancellationToken ct)
    {
        var path = Path.Combine(dists, index);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var bytes = Encoding.UTF8.GetBytes(string.Join("\n", stanzas));
        await File.WriteAllBytesAsync(path, bytes, ct);
        await using (var gz = new GZipStream(new FileStream($"{path}.gz", FileMode.Create, FileAccess.Write), CompressionLevel.SmallestSize))
        {
            await gz.WriteAsync(bytes, ct);
        }
        return [index, $"{index}.gz"];
    }

#pragma warning disable CA5351 // APT's indices carry MD5 for old tools; SHA-256 is what is verified.
    private static string Md5(byte[] bytes) => Convert.ToHexStringLower(MD5.HashData(bytes));
#pragma warning restore CA5351
}
