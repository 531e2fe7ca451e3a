using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Kiln.Server.Hooks;

/// <summary>
/// A delivery's body, read whole and exactly as sent (the signature is over these bytes), up to a
/// cap: a declared length beyond it is refused before a byte is read, and a chunked body is cut off
/// at one byte past it, so no more than the cap (plus one) is ever buffered.
/// </summary>
internal static class HookBody
{
    /// <returns>The bytes, or null when the body is larger than <paramref name="max"/>; and how many bytes were declared or read.</returns>
    public static async Task<(byte[]? Body, long Size)> ReadAsync(HttpContext http, int max, CancellationToken ct)
    {
        var request = http.Request;
        if (request.ContentLength is { } declared && declared > max)
        {
            return (null, declared);
        }
        // The server's own limit is sized for workflow documents; a hook's is its own.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = max + 1L;
        }
        var buffer = new byte[request.ContentLength is { } known ? (int)known : 64 * 1024];
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (request.ContentLength is not null)
                {
                    break;
                }
                if (buffer.Length > max)
                {
                    return (null, length);
                }
                Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, max + 1L));
            }
            var read = await request.Body.ReadAsync(buffer.AsMemory(length), ct);
            if (read == 0)
            {
                break;
            }
            length += read;
        }
        if (length > max)
        {
            return (null, length);
        }
        return (length == buffer.Length ? buffer : buffer[..length], length);
    }
}
