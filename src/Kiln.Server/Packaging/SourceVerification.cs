using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Core.Packaging;
using Kiln.Server.Api;
using Kiln.Server.Hosting;
using Kiln.Store.Artifacts;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Packaging;

/// <summary>What a verified upload is: its format, package, version and files (the .dsc or .src.rpm first).</summary>
public sealed record VerifiedSource(string Format, string Package, string Version, IReadOnlyList<SourceFileRef> Files);

/// <summary>
/// Checks the files of a source upload before anything is recorded: each named once, each stored
/// as a blob of its declared size and hash, and — for a .dsc — exactly the files the .dsc lists,
/// each with the size, SHA-256 and MD5 the .dsc gives (422 naming the file otherwise); a .src.rpm
/// must be a source RPM whose header names it. The .dsc's PGP signature is not verified.
/// </summary>
public sealed class SourceVerification(IBlobStore blobs, ArtifactStore artifacts, KilnServerOptions options)
{
    /// <summary>Most files one upload may have (the .dsc and what it lists).</summary>
    public const int MaxFiles = 64;

    public async Task<(VerifiedSource? Source, IResult? Problem)> VerifyAsync(IReadOnlyList<SourceFileRef>? files, CancellationToken ct)
    {
        if (files is not { Count: > 0 })
        {
            return (null, ApiProblems.Invalid("files", "name the files of the upload: a .dsc and the files it lists, or one .src.rpm"));
        }
        if (files.Count > MaxFiles)
        {
            return (null, ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "Too many files", $"an upload has at most {MaxFiles} files; this one has {files.Count}"));
        }
        var byName = new Dictionary<string, SourceFileRef>(StringComparer.Ordinal);
        for (var i = 0; i < files.Count; i++)
        {
            var f = files[i];
            if (f is null || !DscFile.IsFileName(f.Name))
            {
                return (null, ApiProblems.Invalid($"files[{i}].name", "must be a file name (letters, digits, . + ~ _ -; no directories)"));
            }
            if (!ArtifactPaths.IsSha256(f.Sha256))
            {
                return (null, ApiProblems.Invalid($"files[{i}].sha256", "must be 64 lower-case hex digits"));
            }
            if (TooLarge(f) is { } large)
            {
                return (null, large);
            }
            if (!byName.TryAdd(f.Name, f))
            {
                return (null, ApiProblems.Invalid($"files[{i}].name", $"{f.Name} is named twice"));
            }
        }
        foreach (var f in files)
        {
            if (!await StoredAsync(f, ct))
            {
                return (null, Unprocessable("files", f.Name, $"{f.Name} was not uploaded: PUT its content to /api/v1/projects/{{name}}/sources/content first"));
            }
        }
        var dscs = files.Where(f => f.Name.EndsWith(".dsc", StringComparison.Ordinal)).ToList();
        if (dscs.Count == 1)
        {
            return await VerifyDscAsync(dscs[0], byName, ct);
        }
        if (dscs.Count == 0 && files.Count == 1 && files[0].Name.EndsWith(".src.rpm", StringComparison.Ordinal))
        {
            return await VerifySrpmAsync(files[0], ct);
        }
        return (null, ApiProblems.Invalid("files", dscs.Count > 1
            ? "an upload has one .dsc"
            : "an upload is a .dsc with the files it lists, or exactly one .src.rpm"));
    }

    /// <summary>Refuses a declared size over the server's limit (413).</summary>
    public IResult? TooLarge(SourceFileRef file)
    {
        if (file.Size < 0)
        {
            return ApiProblems.Invalid("size", "must be 0 or more");
        }
        if (file.Size > options.MaxSourceFileBytes)
        {
            return ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "File too large",
                $"{file.Name} is {file.Size.ToString("N0", CultureInfo.InvariantCulture)} bytes; this server accepts source files of at most {options.MaxSourceFileBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes (server option MaxSourceFileBytes)");
        }
        return null;
    }

    private async Task<(VerifiedSource?, IResult?)> VerifyDscAsync(SourceFileRef dsc, Dictionary<string, SourceFileRef> byName, CancellationToken ct)
    {
        if (dsc.Size > DscFile.MaxBytes)
        {
            return (null, ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "File too large", $"{dsc.Name} is {dsc.Size} bytes; a .dsc may have at most {DscFile.MaxBytes}"));
        }
        string text;
        await using (var stream = await blobs.OpenReadAsync(dsc.Sha256, ct))
        {
            if (stream is null)
            {
                return (null, Unprocessable("files", dsc.Name, $"{dsc.Name} was not uploaded"));
            }
            using var reader = new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: false));
            text = await reader.ReadToEndAsync(ct);
        }
        if (DscFile.Parse(text, out var problem) is not { } parsed)
        {
            return (null, Unprocessable("files", dsc.Name, $"{dsc.Name} is not a valid .dsc: {problem}"));
        }
        var listed = parsed.Files.ToDictionary(f => f.Name, StringComparer.Ordinal);
        foreach (var entry in parsed.Files)
        {
            if (!byName.TryGetValue(entry.Name, out var given))
            {
                return (null, Unprocessable("files", entry.Name, $"{entry.Name} is listed in {dsc.Name} but missing from the upload"));
            }
            if (given.Size != entry.Size)
            {
                return (null, Unprocessable("files", entry.Name, $"{entry.Name} is {given.Size} bytes; {dsc.Name} says {entry.Size}"));
            }
            if (entry.Sha256 is { } sha && sha != given.Sha256)
            {
                return (null, Unprocessable("files", entry.Name, $"{entry.Name} has SHA-256 {given.Sha256}; {dsc.Name} says {sha}"));
            }
            if (entry.Md5 is { } md5 && await Md5Async(given, ct) is { } actual && actual != md5)
            {
                return (null, Unprocessable("files", entry.Name, $"{entry.Name} has MD5 {actual}; {dsc.Name} says {md5}"));
            }
        }
        if (byName.Keys.FirstOrDefault(n => n != dsc.Name && !listed.ContainsKey(n)) is { } extra)
        {
            return (null, Unprocessable("files", extra, $"{extra} is not listed in {dsc.Name}; upload only the .dsc and the files it lists"));
        }
        List<SourceFileRef> files = [dsc, .. parsed.Files.Select(e => byName[e.Name])];
        return (new VerifiedSource("dsc", parsed.Source, parsed.Version, files), null);
    }

    private async Task<(VerifiedSource?, IResult?)> VerifySrpmAsync(SourceFileRef srpm, CancellationToken ct)
    {
        await using var stream = await blobs.OpenReadAsync(srpm.Sha256, ct);
        if (stream is null)
        {
            return (null, Unprocessable("files", srpm.Name, $"{srpm.Name} was not uploaded"));
        }
        var (header, problem) = await SrpmHeader.ReadAsync(stream, ct);
        if (header is null)
        {
            return (null, Unprocessable("files", srpm.Name, $"{srpm.Name} is not a source RPM: {problem}"));
        }
        return (new VerifiedSource("srpm", header.Name, header.FullVersion, [srpm]), null);
    }

    private async Task<bool> StoredAsync(SourceFileRef file, CancellationToken ct) =>
        await artifacts.BlobSizeAsync(file.Sha256, ct) is { } size && size == file.Size && await blobs.ExistsAsync(file.Sha256, size, ct);

    private async Task<string?> Md5Async(SourceFileRef file, CancellationToken ct)
    {
        await using var stream = await blobs.OpenReadAsync(file.Sha256, ct);
        // The .dsc's Files field is MD5 (Debian's format); SHA-256 is what proves content, MD5 only has to agree.
#pragma warning disable CA5351
        return stream is null ? null : Convert.ToHexStringLower(await MD5.HashDataAsync(stream, ct));
#pragma warning restore CA5351
    }

    /// <summary>A 422 naming the file: the upload is well-formed but does not agree with itself.</summary>
    public static IResult Unprocessable(string field, string file, string message) => TypedResults.Problem(
        title: "The source package does not match its files",
        detail: message,
        statusCode: StatusCodes.Status422UnprocessableEntity,
        extensions: new Dictionary<string, object?> { ["file"] = file, ["errors"] = new[] { new { field, message } } });
}
