using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Security;
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

    /// <summary>Reports per batch: a worker's slots plus its prefetch, with room to spare.</summary>
    public const int MaxReportsPerBatch = 256;

    private const int MessageMaxChars = 4000;

    /// <summary>Room for every report of a full batch at its longest message, JSON-escaped.</summary>
    public const int ReportBatchMaxBytes = 4 * 1024 * 1024;

    public static IEndpointRouteBuilder MapWorkRequestsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/work-requests").WithTags("Work requests");
        group.MapGet("/", ListAsync).Allow(AccessPolicy.Read).WithSummary("List work requests, oldest first, filtered by workflow, state, queue or project; private projects only for their members.");
        group.MapGet("/{id:long}", GetAsync).Allow(AccessPolicy.Read).WithSummary("A work request with its dependencies and every attempt.");
        group.MapPost("/{id:long}/cancel", async (long id, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct) =>
            await access.WorkRequestAsync(http, id, ProjectNeed.CancelOrRetry) ?? ActionResults.From(await actions.CancelWorkRequestAsync(id, ct)))
            .Allow(AccessPolicy.Operate)
            .WithSummary("Cancel; a running one is stopped by its worker at the next heartbeat. Maintainers, or the contributor who submitted its workflow.");
        group.MapPost("/{id:long}/retry", async (long id, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct) =>
            await access.WorkRequestAsync(http, id, ProjectNeed.CancelOrRetry) ?? ActionResults.From(await actions.RetryWorkRequestAsync(id, ct)))
            .Allow(AccessPolicy.Operate)
            .WithSummary("Re-run a failed, skipped or cancelled work request and the dependents it caused to be skipped. Maintainers, or the contributor who submitted its workflow.");

        var reports = group.MapGroup("/").Allow(AccessPolicy.Worker).AddEndpointFilter<WorkerAuthFilter>().AddEndpointFilter<Metrics.ReportMetricsFilter>();
        reports.MapPost("/{id:long}/complete", CompleteAsync)
            .Accepts<CompleteRequest>("application/json")
            .Produces<ReportResponse>()
            .WithSummary("Worker: the task ended (succeeded, failed or cancelled). Idempotent; 409 when the lease is not held.");
        reports.MapPost("/{id:long}/fail", FailAsync)
            .Accepts<EndWithoutResultRequest>("application/json")
            .Produces<ReportResponse>()
            .WithSummary("Worker: the task could not run (infrastructure error); it is retried with backoff.");
        reports.MapPost("/{id:long}/release", ReleaseAsync)
            .Accepts<EndWithoutResultRequest>("application/json")
            .Produces<ReportResponse>()
            .WithSummary("Worker: hand back work it has not started (e.g. while draining); requeued at once, the attempt not counted.");
        reports.MapPost("/reports", ReportBatchAsync)
            .Accepts<ReportBatchRequest>("application/json")
            .Produces<ReportBatchResponse>()
            .WithSummary("Worker: several reports in one request (complete, fail or release each); every report gets its own answer, in order.");
        return routes;
    }

    private static async Task<IResult> ListAsync(
        HttpContext http, QueryStore queries, ProjectAccess access, long? workflow, string? state, string? queue, string? project, string? limit, string? after, CancellationToken ct)
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
        // A workflow or project the caller may not see lists as one that does not exist: empty.
        if ((workflow is { } w && await access.WorkflowAsync(http, w, ProjectNeed.Read) is not null)
            || (project is not null && await access.ProjectAsync(http, project, ProjectNeed.Read) is not null))
        {
            return TypedResults.Ok(new Page<WorkRequestSummary>([], null));
        }
        var hidden = workflow is null && project is null ? await access.HiddenProjectsAsync(http) : null;
        return TypedResults.Ok(await queries.ListWorkRequestsAsync(new WorkRequestFilter(workflow, state, queue, project), cursor, n, ct, hidden));
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, QueryStore queries, Kiln.Store.Results.ResultStore results, ProjectAccess access, CancellationToken ct) =>
        await access.WorkRequestAsync(http, id, ProjectNeed.Read)
        ?? (await queries.GetWorkRequestAsync(id, ct) is { } view
            ? TypedResults.Ok(view with { Result = await results.GetAsync(id, null, ct) })
            : ApiProblems.NotFound($"work request {id} does not exist"));

    private static async Task<IResult> CompleteAsync(long id, HttpRequest request, CompletionBatcher completions, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<CompleteRequest>(request, ReportMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (CompletionEnd(body!.Result) is not { } end)
        {
            return ApiProblems.Invalid("result", "must be 'succeeded', 'failed', 'cancelled' or 'timed-out'");
        }
        if (body.Message is { Length: > MessageMaxChars })
        {
            return ApiProblems.Invalid("message", $"at most {MessageMaxChars} characters");
        }
        return ToHttp(await completions.ReportAsync(WorkerAuthFilter.Worker(request.HttpContext).Id, id, body.LeaseToken, end, body.ExitCode, body.Message, ct));
    }

    private static AttemptEnd? CompletionEnd(string? result) => result switch
    {
        "succeeded" => AttemptEnd.Succeeded,
        "failed" => AttemptEnd.Failed,
        "cancelled" => AttemptEnd.Cancelled,
        "timed-out" => AttemptEnd.TimedOut,
        _ => null,
    };

    /// <summary>
    /// Every report of the batch is validated before any is recorded (a 400 names the report and
    /// field, and nothing is recorded). Then they are recorded together: successes join the
    /// completion batcher at once, so one request of n successes costs about one statement.
    /// </summary>
    private static async Task<IResult> ReportBatchAsync(HttpRequest request, CompletionBatcher completions, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<ReportBatchRequest>(request, ReportBatchMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Reports is not { Count: > 0 and <= MaxReportsPerBatch } reports)
        {
            return ApiProblems.Invalid("reports", $"a list of 1 to {MaxReportsPerBatch} reports");
        }
        var errors = new List<ValidationError>();
        var ends = new AttemptEnd[reports.Count];
        var seen = new HashSet<long>();
        for (var i = 0; i < reports.Count; i++)
        {
            var r = reports[i];
            if (r is null)
            {
                errors.Add(new($"reports[{i}]", "must be a report object"));
                continue;
            }
            AttemptEnd? end = r.Result switch
            {
                "error" => AttemptEnd.Error,
                "released" => AttemptEnd.Released,
                var other => CompletionEnd(other),
            };
            if (end is null)
            {
                errors.Add(new($"reports[{i}].result", "must be 'succeeded', 'failed', 'cancelled', 'timed-out', 'error' or 'released'"));
            }
            else if (end == AttemptEnd.Error && string.IsNullOrWhiteSpace(r.Message))
            {
                errors.Add(new($"reports[{i}].message", "an 'error' report says what went wrong"));
            }
            if (r.Message is { Length: > MessageMaxChars })
            {
                errors.Add(new($"reports[{i}].message", $"at most {MessageMaxChars} characters"));
            }
            if (!seen.Add(r.WorkRequestId))
            {
                errors.Add(new($"reports[{i}].workRequestId", $"work request {r.WorkRequestId} is reported twice in this batch"));
            }
            ends[i] = end ?? AttemptEnd.Error;
        }
        if (errors.Count > 0)
        {
            return ApiProblems.Invalid(errors);
        }
        var message = (WorkerReport r, AttemptEnd end) => end == AttemptEnd.Released ? r.Message ?? "handed back unstarted" : r.Message;
        var results = await completions.ReportManyAsync(WorkerAuthFilter.Worker(request.HttpContext).Id,
            [.. reports.Select((r, i) => new AttemptReport(r.WorkRequestId, r.LeaseToken, ends[i], r.ExitCode, message(r, ends[i])))], ct);
        return TypedResults.Ok(new ReportBatchResponse([.. results.Select((result, i) => result.Status switch
        {
            ReportStatus.Recorded or ReportStatus.Repeated => new ReportOutcome(reports[i].WorkRequestId, StatusCodes.Status200OK, result.Response, null),
            ReportStatus.NotFound => new ReportOutcome(reports[i].WorkRequestId, StatusCodes.Status404NotFound, null, result.Problem),
            _ => new ReportOutcome(reports[i].WorkRequestId, StatusCodes.Status409Conflict, null, result.Problem),
        })]));
    }

    private static async Task<IResult> FailAsync(long id, HttpRequest request, ReportStore reports, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<EndWithoutResultRequest>(request, ReportMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (string.IsNullOrWhiteSpace(body!.Reason) || body.Reason.Length > MessageMaxChars)
        {
            return ApiProblems.Invalid("reason", $"say what went wrong, in at most {MessageMaxChars} characters");
        }
        return ToHttp(await reports.ReportAsync(WorkerAuthFilter.Worker(request.HttpContext).Id, id, body.LeaseToken, AttemptEnd.Error, null, body.Reason, ct));
    }

    private static async Task<IResult> ReleaseAsync(long id, HttpRequest request, ReportStore reports, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<EndWithoutResultRequest>(request, ReportMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Reason is { Length: > MessageMaxChars })
        {
            return ApiProblems.Invalid("reason", $"at most {MessageMaxChars} characters");
        }
        return ToHttp(await reports.ReportAsync(WorkerAuthFilter.Worker(request.HttpContext).Id, id, body.LeaseToken, AttemptEnd.Released, null, body.Reason ?? "handed back unstarted", ct));
    }

    private static IResult ToHttp(ReportResult result) => result.Status switch
    {
        ReportStatus.Recorded or ReportStatus.Repeated => TypedResults.Ok(result.Response),
        ReportStatus.NotFound => ApiProblems.NotFound(result.Problem!),
        ReportStatus.LeaseExpired => ApiProblems.Status(StatusCodes.Status409Conflict, "Lease expired", result.Problem!),
        _ => ApiProblems.Status(StatusCodes.Status409Conflict, "Lease not held", result.Problem!),
    };
}
