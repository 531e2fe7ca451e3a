using System.Text;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace Kiln.Server.Repositories;

/// <summary>
/// <c>/repos/PROJECT/SUITE/…</c>: the files of the snapshot <c>current</c> names, and the project's public
/// key at <c>/repos/PROJECT/key.asc</c> (armored) and <c>key.gpg</c> (binary). Readable by whoever may see
/// the project (a private project answers 404, as if it did not exist); apt sends its credentials as
/// HTTP Basic (auth.conf), so a Basic password here is taken as the bearer token. Paths are checked
/// segment by segment: no <c>..</c>, no symbolic link followed, only regular files.
/// </summary>
public static class RepositoryFiles
{
    private const int MaxPathChars = 1024;

    public static IEndpointRouteBuilder MapRepositoryFiles(this IEndpointRouteBuilder routes)
    {
        string[] methods = ["GET", "HEAD"];
        routes.MapMethods("/repos/{project}/key.asc", methods, (string project, HttpContext http, AccessStore store, SigningKeys keys, CancellationToken ct) =>
            KeyAsync(project, http, store, keys.ArmoredPath, "key.asc", ct)).Allow(AccessPolicy.Read).ExcludeFromDescription();
        routes.MapMethods("/repos/{project}/key.gpg", methods, (string project, HttpContext http, AccessStore store, SigningKeys keys, CancellationToken ct) =>
            KeyAsync(project, http, store, keys.BinaryPath, "key.gpg", ct)).Allow(AccessPolicy.Read).ExcludeFromDescription();
        routes.MapMethods("/repos/{project}/{suite}/{**path}", methods, FileAsync).Allow(AccessPolicy.Read).ExcludeFromDescription();
        return routes;
    }

    /// <summary>Before the access middleware: apt's Basic credentials (auth.conf) become the bearer token they carry as password.</summary>
    public static IApplicationBuilder UseRepositoryBasicAuth(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (http.Request.Path.StartsWithSegments("/repos", StringComparison.Ordinal)
            && header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase) && header.Length < 1024)
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
                var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                http.Request.Headers.Authorization = colon >= 0 && colon < decoded.Length - 1 ? $"Bearer {decoded[(colon + 1)..]}" : "Bearer -";
            }
            catch (FormatException)
            {
                http.Request.Headers.Authorization = "Bearer -";
            }
        }
        await next(http);
    });

    private static async Task<IResult> KeyAsync(string project, HttpContext http, AccessStore store, Func<string, string?> path, string name, CancellationToken ct)
    {
        if (ProjectAccess.Decide(Caller.Of(http), await store.OfProjectAsync(project, ct), ProjectNeed.Read, $"project '{project}' does not exist") is { } refused)
        {
            return refused;
        }
        return path(project) is { } file
            ? Serve(file, name)
            : Api.ApiProblems.NotFound($"project '{project}' has no signing key yet; it is made on its first publish");
    }

    private static async Task<IResult> FileAsync(string project, string suite, string? path, HttpContext http, AccessStore store, RepositoryPaths paths, CancellationToken ct)
    {
        if (ProjectAccess.Decide(Caller.Of(http), await store.OfProjectAsync(project, ct), ProjectNeed.Read, $"project '{project}' does not exist") is { } refused)
        {
            return refused;
        }
        var notFound = Api.ApiProblems.NotFound($"repository {project}/{suite} has no file '{path}'");
        if (!RepositoryPublisher.IsSuite(suite) || string.IsNullOrEmpty(path) || path.Length > MaxPathChars)
        {
            return notFound;
        }
        var segments = path.Split('/');
        if (segments.Any(s => s.Length == 0 || s is "." or ".." || s.Any(c => c == '\\' || char.IsControl(c))))
        {
            return notFound;
        }
        var layout = paths.Layout(project, suite);
        if (layout.CurrentNumber() is not { } current)
        {
            return notFound;
        }
        var file = layout.Snapshot(current);
        foreach (var segment in segments)
        {
            file = Path.Combine(file, segment);
            var info = new FileInfo(file);
            if (info.LinkTarget is not null || !(info.Exists || Directory.Exists(file)))
            {
                return notFound;
            }
        }
        return File.Exists(file) ? Serve(file, segments[^1]) : notFound;
    }

    private static IResult Serve(string file, string name)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Api.ApiProblems.NotFound($"'{name}' is no longer published");
        }
        return TypedResults.Stream(stream, ContentType(name), lastModified: File.GetLastWriteTimeUtc(file), enableRangeProcessing: true);
    }

    public static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".deb" or ".udeb" => "application/vnd.debian.binary-package",
        ".rpm" => "application/x-rpm",
        ".gz" => "application/gzip",
        ".xz" => "application/x-xz",
        ".zst" => "application/zstd",
        ".bz2" => "application/x-bzip2",
        ".xml" => "application/xml",
        ".asc" when name.StartsWith("key", StringComparison.Ordinal) => "application/pgp-keys",
        ".gpg" when name.StartsWith("key", StringComparison.Ordinal) => "application/pgp-keys",
        ".asc" or ".gpg" => "application/pgp-signature",
        ".dsc" or "" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
}
