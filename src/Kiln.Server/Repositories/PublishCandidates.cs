using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Kiln.Store.Artifacts;
using Kiln.Store.Repositories;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Repositories;

/// <summary>
/// Turns the artifacts of a publish job's needs into pool files: copies each from the blob store into
/// incoming/ (hashing as it goes), reads what package it is (dpkg-deb for a .deb, the paragraph of a .dsc,
/// the name of an RPM) and where it goes in the pool. Done before the repository is locked.
/// </summary>
public static partial class PublishCandidates
{
    private static readonly TimeSpan DpkgTimeout = TimeSpan.FromSeconds(60);

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,200}$")]
    private static partial Regex FileName();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9.+-]{0,99}$")]
    private static partial Regex PackageName();

    [GeneratedRegex(@"^[A-Za-z0-9.+~:_-]{1,100}$")]
    private static partial Regex Version();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9_-]{0,31}$")]
    private static partial Regex Architecture();

    /// <summary>The APT files: every .deb and .udeb, and every .dsc with the files it lists (from the same job).</summary>
    public static async Task<List<PoolFile>> AptAsync(IReadOnlyList<PublishInput> inputs, IBlobStore blobs, string incoming, CancellationToken ct)
    {
        var files = new List<PoolFile>();
        foreach (var input in inputs.Where(i => i.Path.EndsWith(".deb", StringComparison.Ordinal) || i.Path.EndsWith(".udeb", StringComparison.Ordinal)))
        {
            var name = BaseName(input);
            var (local, md5) = await CopyAsync(input, blobs, incoming, ct);
            var control = await ReadControlAsync(local, name, ct);
            var package = Field(control, "Package", PackageName(), name);
            var version = Field(control, "Version", Version(), name);
            var architecture = Field(control, "Architecture", Architecture(), name);
            var source = control["Source"] is { } s ? s.Split(' ', 2)[0] : package;
            if (!PackageName().IsMatch(source))
            {
                throw Unprocessable(name, $"its Source field '{source}' is not a Debian package name");
            }
            // Debian's own name for it (no epoch), whatever the job called the file: the same package built once and
            // seen twice among the inputs (autopkgtest's copy of the build's .deb) is one pool file.
            var extension = name.EndsWith(".udeb", StringComparison.Ordinal) ? "udeb" : "deb";
            var canonical = $"{PoolDirectory(source)}/{package}_{(version.Contains(':', StringComparison.Ordinal) ? version[(version.IndexOf(':', StringComparison.Ordinal) + 1)..] : version)}_{architecture}.{extension}";
            if (files.FirstOrDefault(f => f.Filename == canonical) is { } seen)
            {
                if (seen.Sha256 != input.Sha256)
                {
                    throw Unprocessable(name, $"two different files among the inputs are {package} {version} ({architecture}); publish one");
                }
                continue;
            }
            files.Add(new PoolFile(canonical, package, version, architecture, source,
                control.Render("Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"), input.Sha256, md5, input.Size, input.WorkRequestId, local));
        }
        foreach (var dsc in inputs.Where(i => i.Path.EndsWith(".dsc", StringComparison.Ordinal)))
        {
            var name = BaseName(dsc);
            var (local, md5) = await CopyAsync(dsc, blobs, incoming, ct);
            DebianStanza paragraph;
            try
            {
                paragraph = DebianStanza.Parse(await File.ReadAllTextAsync(local, ct));
            }
            catch (FormatException e)
            {
                throw Unprocessable(name, $"it is not a Debian source control file: {e.Message}");
            }
            var source = Field(paragraph, "Source", PackageName(), name);
            var version = Field(paragraph, "Version", Version(), name);
            var directory = PoolDirectory(source);
            files.Add(new PoolFile($"{directory}/{name}", source, version, "source", source, paragraph.Render(), dsc.Sha256, md5, dsc.Size, dsc.WorkRequestId, local));
            foreach (var line in paragraph.Lines("Checksums-Sha256"))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length != 3)
                {
                    throw Unprocessable(name, $"its Checksums-Sha256 line '{line}' is not 'SHA256 SIZE NAME'");
                }
                var listed = inputs.FirstOrDefault(i => i.WorkRequestId == dsc.WorkRequestId && Path.GetFileName(i.Path) == parts[2])
                    ?? throw Unprocessable(name, $"it lists '{parts[2]}', which work request {dsc.WorkRequestId} did not output");
                if (!string.Equals(listed.Sha256, parts[0], StringComparison.OrdinalIgnoreCase))
                {
                    throw Unprocessable(parts[2], $"its SHA-256 is {listed.Sha256}, but {name} says {parts[0]}");
                }
                var (listedLocal, listedMd5) = await CopyAsync(listed, blobs, incoming, ct);
                files.Add(new PoolFile($"{directory}/{BaseName(listed)}", source, version, "source", source, null,
                    listed.Sha256, listedMd5, listed.Size, listed.WorkRequestId, listedLocal));
            }
        }
        return files;
    }

    /// <summary>The RPM files: every .rpm (source RPMs too), named as rpmbuild names them: NAME-VERSION-RELEASE.ARCH.rpm.</summary>
    public static async Task<List<PoolFile>> RpmAsync(IReadOnlyList<PublishInput> inputs, IBlobStore blobs, string incoming, CancellationToken ct)
    {
        var files = new List<PoolFile>();
        foreach (var input in inputs.Where(i => i.Path.EndsWith(".rpm", StringComparison.Ordinal)))
        {
            var name = BaseName(input);
            var stem = name[..^4];
            var dot = stem.LastIndexOf('.');
            var release = dot > 0 ? stem.LastIndexOf('-', dot) : -1;
            var version = release > 0 ? stem.LastIndexOf('-', release - 1) : -1;
            if (version <= 0)
            {
                throw Unprocessable(name, "an RPM's file name must be NAME-VERSION-RELEASE.ARCH.rpm");
            }
            var (local, md5) = await CopyAsync(input, blobs, incoming, ct);
            var first = char.ToLowerInvariant(name[0]);
            files.Add(new PoolFile($"Packages/{first}/{name}", stem[..version], stem[(version + 1)..dot], stem[(dot + 1)..], null, null,
                input.Sha256, md5, input.Size, input.WorkRequestId, local));
        }
        return files;
    }

    /// <summary>Debian's pool layout: pool/main/h/hello, pool/main/libf/libfoo.</summary>
    private static string PoolDirectory(string source) =>
        $"pool/main/{(source.StartsWith("lib", StringComparison.Ordinal) && source.Length > 3 ? source[..4] : source[..1])}/{source}";

    private static string BaseName(PublishInput input)
    {
        var name = Path.GetFileName(input.Path);
        return FileName().IsMatch(name)
            ? name
            : throw Unprocessable(input.Path, "a published file's name must be letters, digits and . + ~ _ - (at most 200)");
    }

    private static string Field(DebianStanza stanza, string field, Regex shape, string file) =>
        stanza[field] is { } value && shape.IsMatch(value)
            ? value
            : throw Unprocessable(file, stanza[field] is null ? $"it has no {field} field" : $"its {field} '{stanza[field]}' is not valid");

    private static async Task<DebianStanza> ReadControlAsync(string local, string name, CancellationToken ct)
    {
        var result = await ToolRunner.RunAsync("dpkg-deb", ["--info", local, "control"], DpkgTimeout, ct);
        if (result.ExitCode != 0)
        {
            throw Unprocessable(name, $"dpkg-deb cannot read it: {result.Error.Trim()}");
        }
        try
        {
            return DebianStanza.Parse(result.Output);
        }
        catch (FormatException e)
        {
            throw Unprocessable(name, $"its control file is malformed: {e.Message}");
        }
    }

    /// <summary>Copies the blob into incoming/ under a unique name; the MD5 is computed on the way (the SHA-256 is the blob's name, verified by the store).</summary>
    private static async Task<(string Path, string Md5)> CopyAsync(PublishInput input, IBlobStore blobs, string incoming, CancellationToken ct)
    {
        Directory.CreateDirectory(incoming);
        var path = System.IO.Path.Combine(incoming, $"{Guid.NewGuid():N}-{System.IO.Path.GetFileName(input.Path)}");
        Stream? source;
        try
        {
            source = await blobs.OpenReadAsync(input.Sha256, ct);
        }
        catch (BlobCorruptException e)
        {
            throw new PublishRefusedException(StatusCodes.Status409Conflict, input.Path, $"its content is damaged ({e.Message}); run the job that made it again");
        }
        if (source is null)
        {
            throw new PublishRefusedException(StatusCodes.Status409Conflict, input.Path, $"its content ({input.Sha256}) is no longer stored; run the job that made it again");
        }
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        await using (source)
        await using (var target = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            var buffer = new byte[81920];
            int read;
            while ((read = await source.ReadAsync(buffer, ct)) > 0)
            {
                md5.AppendData(buffer, 0, read);
                await target.WriteAsync(buffer.AsMemory(0, read), ct);
            }
        }
        return (path, Convert.ToHexStringLower(md5.GetHashAndReset()));
    }

    private static PublishRefusedException Unprocessable(string file, string message) =>
        new(StatusCodes.Status422UnprocessableEntity, file, message);
}
