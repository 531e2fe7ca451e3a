using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Web;

/// <summary>The interface's stylesheet and script, embedded in the assembly (Web/Static) and served with an ETag.</summary>
public static class WebAssets
{
    private static readonly ConcurrentDictionary<string, (byte[] Bytes, string ETag)?> Loaded = new(StringComparer.Ordinal);

    public static IResult Serve(string file, HttpContext http)
    {
        var asset = Loaded.GetOrAdd(file, Load);
        if (asset is not { } a)
        {
            return Results.NotFound();
        }
        http.Response.Headers.CacheControl = "no-cache";
        if (http.Request.Headers.IfNoneMatch == a.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }
        http.Response.Headers.ETag = a.ETag;
        return Results.Bytes(a.Bytes, file.EndsWith(".css", StringComparison.Ordinal) ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8");
    }

    private static (byte[], string)? Load(string file)
    {
        if (file is not ("ui.css" or "ui.js"))
        {
            return null;
        }
        using var stream = typeof(WebAssets).Assembly.GetManifestResourceStream("Kiln.Web." + file);
        if (stream is null)
        {
            return null;
        }
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var bytes = copy.ToArray();
        return (bytes, $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}\"");
    }
}
