using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Core.Packaging;

namespace Kiln.Cli.Commands;

/// <summary>A source package on disk, checked before anything is sent: the .dsc and the files it lists beside it, or one .src.rpm.</summary>
public sealed record LocalSource(string Format, string Package, string Version, IReadOnlyList<(string Path, SourceFileRef File)> Files)
{
    /// <summary>Reads <paramref name="path"/> and checks every file's size and checksums against the .dsc (a one-line error naming the file).</summary>
    public static async Task<LocalSource> LoadAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            throw new CliException($"{path}: no such file");
        }
        if (path.EndsWith(".src.rpm", StringComparison.Ordinal))
        {
            await using var stream = File.OpenRead(path);
            var (header, problem) = await SrpmHeader.ReadAsync(stream, ct);
            if (header is null)
            {
                throw new CliException($"{path}: {problem}");
            }
            return new LocalSource("srpm", header.Name, header.FullVersion, [(path, await DescribeAsync(path, ct))]);
        }
        if (!path.EndsWith(".dsc", StringComparison.Ordinal))
        {
            throw new CliException($"{path}: kiln build takes a .dsc or a .src.rpm (or --git URL)", UsageErrors.ExitCode);
        }
        if (new FileInfo(path).Length > DscFile.MaxBytes)
        {
            throw new CliException($"{path}: larger than {DscFile.MaxBytes} bytes; that is not a .dsc");
        }
        var dsc = DscFile.Parse(await File.ReadAllTextAsync(path, Encoding.UTF8, ct), out var why)
            ?? throw new CliException($"{path}: not a valid .dsc: {why}");
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var files = new List<(string, SourceFileRef)> { (path, await DescribeAsync(path, ct)) };
        foreach (var entry in dsc.Files)
        {
            var file = Path.Combine(directory, entry.Name);
            if (!File.Exists(file))
            {
                throw new CliException($"{entry.Name}: listed in {Path.GetFileName(path)} but not found beside it in {directory}");
            }
            var described = await DescribeAsync(file, ct);
            if (described.Size != entry.Size)
            {
                throw new CliException($"{entry.Name}: {described.Size} bytes, but {Path.GetFileName(path)} says {entry.Size}");
            }
            if (entry.Sha256 is { } sha && sha != described.Sha256)
            {
                throw new CliException($"{entry.Name}: SHA-256 {described.Sha256}, but {Path.GetFileName(path)} says {sha}");
            }
            if (entry.Md5 is { } md5 && await Md5Async(file, ct) is var actual && actual != md5)
            {
                throw new CliException($"{entry.Name}: MD5 {actual}, but {Path.GetFileName(path)} says {md5}");
            }
            files.Add((file, described));
        }
        return new LocalSource("dsc", dsc.Source, dsc.Version, files);
    }

    private static async Task<SourceFileRef> DescribeAsync(string path, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan | FileOptions.Asynchronous);
        var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
        return new SourceFileRef(Path.GetFileName(path), sha, stream.Length);
    }

    // Debian's Files field is MD5; it only has to agree (SHA-256 proves the content).
#pragma warning disable CA5351
    private static async Task<string> Md5Async(string path, CancellationToken ct)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await MD5.HashDataAsync(stream, ct));
    }
#pragma warning restore CA5351
}
