using System.Buffers;
using System.Globalization;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Hosting;
using Kiln.Server.Security;
using Kiln.Store.Artifacts;
using Kiln.Store.Logs;
using Kiln.Store.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/work-requests/{id}/log</c>: workers append their task's output while it runs;
/// whoever may see its project reads it, from an offset, optionally waiting for more (how <c>kiln logs -f</c> follows).
/// </summary>
public static class LogsApi
{
    /// <summary>Largest chunk one append may carry; bounds the server's memory per request.</summary>
    public const int MaxChunkBytes = 1024 * 1024;

    /// <summary>Longest a read waits for new output.</summary>
    public const int MaxWaitSeconds = 30;

    public static IEndpointRouteBuilder MapLogsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/work-requests/{id:long}/log").WithTags("Logs");
        group.MapGet("/", ReadAsync)
            .Allow(AccessPolicy.Read)
            .Produces(StatusCodes.Status200OK, contentType: "text/plain")
            .WithSummary("An attempt's log from 'offset' on; with 'wait' (seconds), waits for new output while the attempt runs. Headers Kiln-Log-Size, Kiln-Log-Complete, Kiln-Log-Attempt.");
        group.MapPost("/", AppendAsync)
            .Allow(AccessPolicy.Worker)
            .AddEndpointFilter<WorkerAuthFilter>()
            .Accepts<byte[]>("application/octet-stream")
            .Produces<LogAppendResponse>()
            .ProducesProblem(StatusCodes.Status507InsufficientStorage)
            .WithSummary("Worker: append output at 'offset' of the attempt's log (header Kiln-Lease-Token). Idempotent: answers the size held; resume from it.");
        return routes;
    }

    private static async Task<IResult> AppendAsync(
        long id, int attempt, long offset, HttpContext http, AttemptLeases leases, LogStore logs, KilnServerOptions options, CancellationToken ct)
    {
        if (!Guid.TryParse(http.Request.Headers[LeaseHeaders.LeaseToken], out var token))
        {
            return ApiProblems.Invalid(LeaseHeaders.LeaseToken, "the header must carry the attempt's lease token");
        }
        if (offset < 0)
        {
            return ApiProblems.Invalid("offset", "must be 0 or more");
        }
        if (http.Request.ContentLength is > MaxChunkBytes)
        {
            return ApiProblems.TooLarge(MaxChunkBytes);
        }
        var held = await leases.HeldAttemptAsync(id, token, WorkerAuthFilter.Worker(http).Id, ct);
        if (held != attempt)
        {
            return ApiProblems.Status(StatusCodes.Status409Conflict, "Lease not held",
                $"this lease does not hold attempt {attempt} of work request {id}; its log is closed");
        }
        var chunk = ArrayPool<byte>.Shared.Rent(MaxChunkBytes + 1);
        try
        {
            var length = await ReadChunkAsync(http.Request.Body, chunk, ct);
            if (length > MaxChunkBytes)
            {
                return ApiProblems.TooLarge(MaxChunkBytes);
            }
            var size = await logs.AppendAsync(id, attempt, token, offset, chunk.AsMemory(0, length), options.MaxLogBytes, ct);
            return TypedResults.Ok(new LogAppendResponse(size));
        }
        catch (LogTooLargeException e)
        {
            return ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "Log too large", e.Message);
        }
        catch (StorageFullException e)
        {
            return ApiProblems.Status(StatusCodes.Status507InsufficientStorage, "Insufficient storage", e.Message);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <returns>Bytes read; more than <see cref="MaxChunkBytes"/> means the body is too large (reading stops there).</returns>
    private static async Task<int> ReadChunkAsync(Stream body, byte[] buffer, CancellationToken ct)
    {
        var length = 0;
        int read;
        while (length <= MaxChunkBytes && (read = await body.ReadAsync(buffer.AsMemory(length, MaxChunkBytes + 1 - length), ct)) > 0)
        {
            length += read;
        }
        return length;
    }

    private static async Task ReadAsync(
        long id, int? attempt, long? offset, int? wait, HttpContext http, LogFollowers followers, LogStore logs, TimeProvider time, ProjectAccess access, CancellationToken ct)
    {
        if (await access.WorkRequestAsync(http, id, ProjectNeed.Read) is { } refused)
        {
            await refused.ExecuteAsync(http);
            return;
        }
        var from = offset ?? 0;
        var waitSeconds = Math.Clamp(wait ?? 0, 0, MaxWaitSeconds);
        if (from < 0)
        {
            await ApiProblems.Invalid("offset", "must be 0 or more").ExecuteAsync(http);
            return;
        }
        // State and lease come through the followers' shared view: many followers of one log cost one query a second, not one each.
        var current = await followers.CurrentAsync(id, ct);
        if (current is null)
        {
            await ApiProblems.NotFound($"work request {id} does not exist").ExecuteAsync(http);
            return;
        }
        var number = attempt ?? current.Value.Attempt;
        if (number < 0 || number > current.Value.Attempt)
        {
            await ApiProblems.NotFound($"work request {id} has no attempt {number} (it has made {current.Value.Attempt})").ExecuteAsync(http);
            return;
        }

        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(waitSeconds);
        var complete = IsComplete(current.Value, number);
        var lease = number == 0 ? null : await followers.LeaseOfAsync(id, number, ct);
        var size = lease is { } known ? logs.SizeOf(id, number, known) : 0;
        while (!complete && size <= from && time.GetUtcNow() < deadline)
        {
            // Appends on this replica wake the wait at once; the state check below notices an end on another replica.
            var growth = lease is { } watched ? logs.GrowthAsync(id, number, watched, size) : Task.Delay(Timeout.Infinite, ct);
            var remaining = deadline - time.GetUtcNow();
            await Task.WhenAny(growth, Task.Delay(remaining < LogFollowers.RecheckInterval ? remaining : LogFollowers.RecheckInterval, time, ct));
            ct.ThrowIfCancellationRequested();
            current = await followers.CurrentAsync(id, ct);
            if (number == 0 && attempt is null && current!.Value.Attempt > 0)
            {
                number = current.Value.Attempt;
            }
            complete = IsComplete(current!.Value, number);
            lease ??= number == 0 ? null : await followers.LeaseOfAsync(id, number, ct);
            size = lease is { } now ? logs.SizeOf(id, number, now) : 0;
        }

        http.Response.ContentType = "text/plain; charset=utf-8";
        http.Response.Headers[LogHeaders.Attempt] = number.ToString(CultureInfo.InvariantCulture);
        http.Response.Headers[LogHeaders.Size] = size.ToString(CultureInfo.InvariantCulture);
        http.Response.Headers[LogHeaders.Complete] = complete ? "true" : "false";
        if (from >= size)
        {
            http.Response.ContentLength = 0;
            return;
        }
        http.Response.ContentLength = size - from;
        await using var file = logs.OpenRead(id, number, lease!.Value)!;
        file.Seek(from, SeekOrigin.Begin);
        var buffer = new byte[64 * 1024];
        var left = size - from;
        while (left > 0)
        {
            var read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), ct);
            if (read == 0)
            {
                break;
            }
            await http.Response.Body.WriteAsync(buffer.AsMemory(0, read), ct);
            left -= read;
        }
    }

    /// <summary>An attempt's log is final once that attempt is no longer the one running.</summary>
    private static bool IsComplete((string State, int Attempt) current, int attempt) =>
        attempt == 0 ? WorkRequestState.IsFinal(current.State) : !(current.State == WorkRequestState.Running && current.Attempt == attempt);
}
