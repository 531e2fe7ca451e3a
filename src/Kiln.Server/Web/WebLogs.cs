using System.Globalization;
using System.Text;
using Kiln.Core;
using Kiln.Server.Security;
using Kiln.Store.Logs;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Web;

/// <summary>
/// A job's log for the job page: a byte range (the tail first, earlier ranges on demand, so a
/// 200 MB log never reaches the browser whole), a stream of new bytes as server-sent events while
/// the attempt runs, and the raw file. The script renders every byte as text.
/// </summary>
public static class WebLogs
{
    /// <summary>Largest range one request returns.</summary>
    public const int MaxRangeBytes = 1024 * 1024;

    /// <summary><c>?attempt=N&amp;from=A&amp;to=B</c>; without <c>from</c>, the last <see cref="WebUi.LogWindowBytes"/>. Headers Kiln-Log-From, Kiln-Log-Size, Kiln-Log-Complete.</summary>
    public static async Task RangeAsync(long id, int? attempt, long? from, long? to, HttpContext http, LogFollowers followers, LogStore logs, ProjectAccess access)
    {
        var ct = http.RequestAborted;
        if (await OpenAsync(id, attempt, http, followers, logs, access) is not { } log)
        {
            return;
        }
        var end = Math.Min(to ?? log.Size, log.Size);
        var start = from ?? Math.Max(0, end - WebUi.LogWindowBytes);
        if (start < 0 || start > end || end - start > MaxRangeBytes)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            await http.Response.WriteAsync($"from and to must make a range of at most {MaxRangeBytes} bytes within the log's {log.Size}", ct);
            return;
        }
        http.Response.ContentType = "text/plain; charset=utf-8";
        http.Response.Headers["Kiln-Log-From"] = start.ToString(CultureInfo.InvariantCulture);
        http.Response.Headers["Kiln-Log-Size"] = log.Size.ToString(CultureInfo.InvariantCulture);
        http.Response.Headers["Kiln-Log-Complete"] = log.Complete ? "true" : "false";
        http.Response.Headers.CacheControl = "no-store";
        await CopyAsync(log, start, end, http.Response.Body, ct);
    }

    /// <summary>Server-sent events: <c>chunk</c> (new text from <c>offset</c>, whole UTF-8 characters), then <c>end</c> when the attempt is over.</summary>
    public static async Task StreamAsync(long id, int? attempt, long? offset, HttpContext http, LogFollowers followers, LogStore logs, ProjectAccess access)
    {
        var ct = http.RequestAborted;
        if (await OpenAsync(id, attempt, http, followers, logs, access) is not { } log)
        {
            return;
        }
        WebUi.StartEvents(http);
        var position = Math.Clamp(offset ?? 0, 0, log.Size);
        var decoder = new UTF8Encoding(false).GetDecoder();
        var bytes = new byte[64 * 1024];
        var chars = new char[bytes.Length + 8];
        try
        {
            for (var i = 0; i < 7200 && !ct.IsCancellationRequested; i++)
            {
                var current = await followers.CurrentAsync(id, ct);
                var complete = current is null || !(current.Value.State == WorkRequestState.Running && current.Value.Attempt == log.Attempt);
                var lease = log.Lease ?? await followers.LeaseOfAsync(id, log.Attempt, ct);
                log = log with { Lease = lease };
                var size = lease is { } l ? logs.SizeOf(id, log.Attempt, l) : 0;
                while (position < size)
                {
                    await using var file = logs.OpenRead(id, log.Attempt, lease!.Value)!;
                    file.Seek(position, SeekOrigin.Begin);
                    var read = await file.ReadAsync(bytes.AsMemory(0, (int)Math.Min(bytes.Length, size - position)), ct);
                    if (read == 0)
                    {
                        break;
                    }
                    position += read;
                    var n = decoder.GetChars(bytes, 0, read, chars, 0, flush: false);
                    await WebUi.SendAsync(http, "chunk", new string(chars, 0, n), ct);
                }
                if (complete)
                {
                    await WebUi.SendAsync(http, "end", position.ToString(CultureInfo.InvariantCulture), ct);
                    return;
                }
                var growth = lease is { } watched ? logs.GrowthAsync(id, log.Attempt, watched, size) : Task.CompletedTask;
                await Task.WhenAny(growth, Task.Delay(LogFollowers.RecheckInterval, ct));
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>The whole log of an attempt as a download.</summary>
    public static async Task RawAsync(long id, int? attempt, HttpContext http, LogFollowers followers, LogStore logs, ProjectAccess access)
    {
        if (await OpenAsync(id, attempt, http, followers, logs, access) is not { } log)
        {
            return;
        }
        http.Response.ContentType = "text/plain; charset=utf-8";
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"kiln-{id}-attempt-{log.Attempt}.log\"";
        http.Response.ContentLength = log.Size;
        await CopyAsync(log, 0, log.Size, http.Response.Body, http.RequestAborted);
    }

    private sealed record OpenLog(long Id, int Attempt, Guid? Lease, long Size, bool Complete, LogStore Store);

    private static async Task<OpenLog?> OpenAsync(long id, int? attempt, HttpContext http, LogFollowers followers, LogStore logs, ProjectAccess access)
    {
        var ct = http.RequestAborted;
        var current = await access.WorkRequestAsync(http, id, ProjectNeed.Read) is null ? await followers.CurrentAsync(id, ct) : null;
        if (current is null)
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            await http.Response.WriteAsync($"work request {id} does not exist, or you may not see it", ct);
            return null;
        }
        var number = attempt ?? current.Value.Attempt;
        if (number < 1 || number > current.Value.Attempt)
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            await http.Response.WriteAsync($"work request {id} has no attempt {number} yet", ct);
            return null;
        }
        var lease = await followers.LeaseOfAsync(id, number, ct);
        var size = lease is { } l ? logs.SizeOf(id, number, l) : 0;
        var complete = !(current.Value.State == WorkRequestState.Running && current.Value.Attempt == number);
        return new OpenLog(id, number, lease, size, complete, logs);
    }

    private static async Task CopyAsync(OpenLog log, long start, long end, Stream output, CancellationToken ct)
    {
        if (end <= start || log.Lease is not { } lease || log.Store.OpenRead(log.Id, log.Attempt, lease) is not { } file)
        {
            return;
        }
        await using (file)
        {
            file.Seek(start, SeekOrigin.Begin);
            var buffer = new byte[64 * 1024];
            var left = end - start;
            while (left > 0)
            {
                var read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
                if (read == 0)
                {
                    break;
                }
                await output.WriteAsync(buffer.AsMemory(0, read), ct);
                left -= read;
            }
        }
    }
}
