using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Kiln.Server.Hooks;

/// <summary>
/// A delivery's body, read whole and exactly as sent (the signature is over these bytes), up to a
/// cap: a declared length beyond it is refused without buffering a byte, and a chunked body stops
/// being buffered at one byte past it. The rest of an oversize body is read and thrown away, up to
/// <see cref="DrainFactor"/> times the cap, so that the sender reads the 413 rather than a reset
/// connection; a body larger still is cut off (the connection closes).
/// </summary>
internal static class HookBody
{
    /// <summary>How much of an oversize body is drained, in caps.</summary>
    public const int DrainFactor = 2;

    /// <returns>The bytes, or null when the body is larger than <paramref name="max"/>; and how many bytes were declared or read.</returns>
    public static async Task<(byte[]? Body, long Size)> ReadAsync(HttpContext http, int max, CancellationToken ct)
    {
        var request = http.Request;
        // The server's own limit is sized for workflow documents; a hook's is its own (with room to drain).
        var drainable = (long)DrainFactor * max;
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = drainable + 1;
        }
        if (request.ContentLength is { } declared && declared > max)
        {
            if (declared <= drainable)
            {
                await DrainAsync(request.Body, drainable, ct);
            }
            return (null, declared);
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
                    return (null, length + await DrainAsync(request.Body, drainable - length, ct));
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

    /// <summary>Reads and discards up to <paramref name="most"/> bytes; returns how many were read. A body that ends badly ends the draining, not the request.</summary>
    private static async Task<long> DrainAsync(Stream body, long most, CancellationToken ct)
    {
        var scratch = new byte[64 * 1024];
        long total = 0;
        try
        {
            int read;
            while (total < most && (read = await body.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, most - total)), ct)) > 0)
            {
                total += read;
            }
        }
        catch (Exception e) when (e is IOException or BadHttpRequestException)
        {
        }
        return total;
    }
}
