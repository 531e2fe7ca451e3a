using System.Text.Json;
using Kiln.Contracts;
using Kiln.Server.Packaging;
using Kiln.Server.Security;
using Kiln.Store.Artifacts;
using Kiln.Store.Results;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/work-requests/{id}/result</c>: the structured result of an attempt, uploaded by the worker
/// under the attempt's lease (answered with the verdict) and read by whoever may see the project.
/// </summary>
public static class ResultsApi
{
    /// <summary>Largest result object, as its JSON text.</summary>
    public const int MaxResultBytes = 256 * 1024;

    /// <summary>Deepest nesting a result may have.</summary>
    public const int MaxResultDepth = 16;

    public static IEndpointRouteBuilder MapResultsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/work-requests/{id:long}/result").WithTags("Results");
        group.MapGet("/", GetAsync).Produces<WorkRequestResult>().Allow(AccessPolicy.Read)
            .WithSummary("The structured result of an attempt ('attempt', default the latest that reported one): package, version, files, lintian tags, tests, regressions.");
        group.MapPut("/", PutAsync).Allow(AccessPolicy.Worker).AddEndpointFilter<WorkerAuthFilter>()
            .Accepts<ResultUpload>("application/json")
            .Produces<ResultVerdict>()
            .WithSummary("Worker: the result its kind's script wrote (a JSON object of at most 256 KiB), under the attempt's lease. Repeat-safe: the last upload replaces the attempt's result. The answer says whether the attempt fails despite its exit code.");
        return routes;
    }

    private static async Task<IResult> PutAsync(long id, HttpContext http, AttemptLeases leases, ResultStore results, ResultIntake intake, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<ResultUpload>(http.Request, MaxResultBytes + 1024, ct);
        if (problem is not null)
        {
            return problem;
        }
        var result = body!.Result;
        if (result.ValueKind != JsonValueKind.Object)
        {
            return ApiProblems.Invalid("result", "must be a JSON object (what the kind's script wrote to $KILN_RESULT_FILE)");
        }
        if (System.Text.Encoding.UTF8.GetByteCount(result.GetRawText()) > MaxResultBytes)
        {
            return ApiProblems.Invalid("result", $"at most {MaxResultBytes / 1024} KiB of JSON");
        }
        if (Problem(result, 0) is { } invalid)
        {
            return ApiProblems.Invalid("result", invalid);
        }
        if (await leases.HeldAttemptAsync(id, body.LeaseToken, WorkerAuthFilter.Worker(http).Id, ct) is not { } attempt)
        {
            return ApiProblems.Status(StatusCodes.Status409Conflict, "Lease not held",
                $"this lease does not hold a running attempt of work request {id}; its result is closed");
        }
        if (await results.TargetAsync(id, ct) is not { } target)
        {
            return ApiProblems.NotFound($"work request {id} does not exist");
        }
        return TypedResults.Ok(await intake.TakeAsync(id, attempt, target, result, ct));
    }

    private static async Task<IResult> GetAsync(long id, int? attempt, HttpContext http, AttemptLeases leases, ResultStore results, ProjectAccess access, CancellationToken ct)
    {
        if (await access.WorkRequestAsync(http, id, ProjectNeed.Read) is { } refused)
        {
            return refused;
        }
        if (attempt is < 1)
        {
            return ApiProblems.Invalid("attempt", "must be 1 or more");
        }
        if (await leases.CurrentAsync(id, ct) is null)
        {
            return ApiProblems.NotFound($"work request {id} does not exist");
        }
        return await results.GetAsync(id, attempt, ct) is { } found
            ? TypedResults.Ok(found)
            : ApiProblems.NotFound(attempt is null ? $"work request {id} has no result yet" : $"attempt {attempt} of work request {id} reported no result");
    }

    /// <summary>What PostgreSQL's jsonb or a reader would choke on: U+0000 in a string or name, nesting deeper than <see cref="MaxResultDepth"/>.</summary>
    private static string? Problem(JsonElement e, int depth)
    {
        if (depth > MaxResultDepth)
        {
            return $"nests deeper than {MaxResultDepth} levels";
        }
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name.Contains('\0', StringComparison.Ordinal))
                    {
                        return "a property name holds U+0000";
                    }
                    if (Problem(p.Value, depth + 1) is { } inner)
                    {
                        return inner;
                    }
                }
                return null;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray())
                {
                    if (Problem(item, depth + 1) is { } inner)
                    {
                        return inner;
                    }
                }
                return null;
            case JsonValueKind.String:
                return e.GetString()!.Contains('\0', StringComparison.Ordinal) ? "a string holds U+0000" : null;
            default:
                return null;
        }
    }
}
