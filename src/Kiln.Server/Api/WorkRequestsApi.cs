using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/work-requests</c>: inspect, list, cancel and retry single work requests, and the
/// workers' reports (complete, fail), which are fenced by the lease token.
/// </summary>
public static class WorkRequestsApi
{
    private const int ReportMaxBytes = 64 * 1024;

    public static IEndpointRouteBuilder MapWorkRequestsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/work-requests").WithTags("Work requests");
        group.MapGet("/", ListAsync).WithSummary("List work requests, oldest first, filtered by workflow, state, queue or project.");
        group.MapGet("/{id:long}", GetAsync).WithSummary("A work request with its dependencies and every attempt.");
        group.MapPost("/{id:long}/cancel", async (long id, GraphActions actions, CancellationToken ct) =>
            ActionResults.From(await actions.CancelWorkRequestAsync(id, ct)))
            .WithSummary("Cancel; a running one is stopped by its worker at the next heartbeat.");
        group.MapPost("/{id:long}/retry", async (long id, GraphActions actions, CancellationToken ct) =>
            ActionResults.From(await actions.RetryWorkRequestAsync(id, ct)))
            .WithSummary("Re-run a failed, skipped or cancelled work request and the dependents it caused to be skipped.");

        var reports = group.MapGroup("/").AddEndpointFilter<WorkerAuthFilter>();
        reports.MapPost("/{id:long}/complete", CompleteAsync)
            .Accepts<CompleteRequest>("application/json")
            .Produces<ReportResponse>()
            .WithSummary("Worker: the task ended (succeeded, failed or cancelled). Idempotent; 409 when the lease is not held.");
        reports.MapPost("/{id:long}/fail", FailAsync)
            .Accepts<FailRequest>("application/json")
            .Produces<ReportResponse>()
            .WithSummary("Worker: the task could not run (infrastructure error); it is retried with backoff.");
        reports.MapPost("/{id:long}/release", ReleaseAsync)
            .Accepts<FailRequest>("application/json")
            .Produces<ReportResponse>()
            .WithSummary("Worker: hand back work it has not started (e.g. while draining); requeued at once, the attempt not counted.");
        return routes;
    }

    private static async Task<IResult> ListAsync(
        QueryStore queries, long? workflow, string? state, string? queue, string? project, string? limit, string? after, CancellationToken ct)
    {
        var (n, cursor, problem) = ListQuery.Parse(limit, after);
        if (problem is not null)
        {
            return problem;
        }
        if (state is not null && !WorkRequestState.IsKnown(state))
        {
            return ApiProblems.Invalid("state", $"'{state}' is not a work request state; use one of {string.Join(", ", WorkRequestState.All)}");
        }
        return TypedResults.Ok(await queries.ListWorkRequestsAsync(new WorkRequestFilter(workflow, state, queue, project), cursor, n, ct));
    }

    private static async Task<IResult> GetAsync(long id, QueryStore queries, CancellationToken ct) =>
        await queries.GetWorkRequestAsync(id, ct) is { } view ? TypedResults.Ok(view) : ApiProblems.NotFound($"work request {id} does not exist");

    private static async Task<IResult> CompleteAsync(long id, HttpRequest request, CompletionBatcher completions, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<CompleteRequest>(request, ReportMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        AttemptEnd? end = body!.Result switch
        {
            "succeeded" => AttemptEnd.Succeeded,
            "failed" => AttemptEnd.Failed,
            "cancelled" => AttemptEnd.Cancelled,
            "timed-out" => AttemptEnd.TimedOut,
            _ => null,
        };
        if (end is null)
        {
            return ApiProblems.Invalid("result", "must be 'succeeded', 'failed', 'cancelled' or 'timed-out'");
        }
        if (body.Message is { Length: > 4000 })
        {
            return ApiProblems.Invalid("message", "at most 4000 characters");
        }
        return ToHttp(await completions.CompleteAsync(id, body.LeaseToken, end.Value, body.ExitCode, body.Message, ct));
    }

    private static async Task<IResult> FailAsync(long id, HttpRequest request, ReportStore reports, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<FailRequest>(request, ReportMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (string.IsNullOrWhiteSpace(body!.Reason) || body.Reason.Length > 4000)
        {
            return ApiProblems.Invalid("reason", "say what went wrong, in at most 4000 characters");
        }
        return ToHttp(await reports.CompleteAsync(id, body.LeaseToken, AttemptEnd.Error, null, body.Reason, ct));
    }

    private static async Task<IResult> ReleaseAsync(long id, HttpRequest request, ReportStore reports, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<FailRequest>(request, ReportMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Reason is { Length: > 4000 })
        {
            return ApiProblems.Invalid("reason", "at most 4000 characters");
        }
        return ToHttp(await reports.CompleteAsync(id, body.LeaseToken, AttemptEnd.Released, null, body.Reason ?? "handed back unstarted", ct));
    }

    private static IResult ToHttp(ReportResult result) => result.Status switch
    {
        ReportStatus.Recorded or ReportStatus.Repeated => TypedResults.Ok(result.Response),
        ReportStatus.NotFound => ApiProblems.NotFound(result.Problem!),
        ReportStatus.LeaseExpired => ApiProblems.Status(StatusCodes.Status409Conflict, "Lease expired", result.Problem!),
        _ => ApiProblems.Status(StatusCodes.Status409Conflict, "Lease not held", result.Problem!),
    };
}
