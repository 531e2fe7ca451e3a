using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Packaging;
using Kiln.Server.Security;
using Kiln.Store.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary><c>/api/v1/workflows</c>: submit, inspect, list, cancel and retry workflows.</summary>
public static class WorkflowsApi
{
    public static IEndpointRouteBuilder MapWorkflowsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workflows").WithTags("Workflows");
        group.MapPost("/", SubmitAsync)
            .Accepts<WorkflowDocument>("application/json")
            .Produces<SubmitWorkflowResponse>(StatusCodes.Status201Created)
            .Produces<SubmitWorkflowResponse>(StatusCodes.Status200OK)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .Allow(AccessPolicy.Submit)
            .WithSummary("Submit a workflow; with an idempotency key, a repeat of the same document returns the existing one (200), a different document is a 409. A project that does not exist is created with the caller as owner.");
        group.MapGet("/", ListAsync).Allow(AccessPolicy.Read).WithSummary("List workflows, newest first (keyset-paginated); private projects only for their members.");
        group.MapGet("/{id:long}", GetAsync).Allow(AccessPolicy.Read).WithSummary("A workflow with the state of each of its jobs and the autopkgtest regressions its jobs found.");
        group.MapPost("/{id:long}/cancel", CancelAsync).Allow(AccessPolicy.Operate).WithSummary("Cancel every unfinished job; running ones stop at their next heartbeat. Maintainers, or the contributor who submitted it.");
        group.MapPost("/{id:long}/retry", RetryAsync).Allow(AccessPolicy.Operate).WithSummary("Re-run the failed, skipped and cancelled part of the graph; keep what succeeded. Maintainers, or the contributor who submitted it.");
        return routes;
    }

    private static async Task<IResult> SubmitAsync(HttpRequest request, WorkflowSubmission submission, CancellationToken ct)
    {
        var (document, problem) = await ApiJson.ReadAsync<WorkflowDocument>(request, submission.Planner.Limits.MaxDocumentBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (request.Headers["Idempotency-Key"] is { Count: > 0 } header)
        {
            document = document! with { IdempotencyKey = header.ToString() };
        }
        var (stored, plan, refused) = await submission.SubmitAsync(request.HttpContext, document!, JsonSerializer.Serialize(document, ApiJson.Options), ct);
        if (refused is not null)
        {
            return refused;
        }
        var body = new SubmitWorkflowResponse(stored!.WorkflowId, stored.Created, stored.WorkRequests, plan!.Omitted.Count > 0 ? plan.Omitted : null);
        return stored.Created
            ? TypedResults.Created($"/api/v1/workflows/{stored.WorkflowId}", body)
            : TypedResults.Ok(body);
    }

    private static async Task<IResult> ListAsync(
        HttpContext http, QueryStore queries, ProjectAccess access, string? project, string? state, string? limit, string? after, CancellationToken ct)
    {
        var (n, cursor, problem) = ListQuery.Parse(limit, after);
        if (problem is not null)
        {
            return problem;
        }
        if (state is not null && !WorkflowState.All.Contains(state))
        {
            return ApiProblems.Invalid("state", $"'{state}' is not a workflow state; use one of {string.Join(", ", WorkflowState.All)}");
        }
        if (project is not null && await access.ProjectAsync(http, project, ProjectNeed.Read) is not null)
        {
            return TypedResults.Ok(new Page<WorkflowView>([], null));
        }
        return TypedResults.Ok(await queries.ListWorkflowsAsync(project, state, cursor, n, ct, await access.HiddenProjectsAsync(http)));
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, QueryStore queries, Kiln.Store.Results.ResultStore results, ProjectAccess access, CancellationToken ct) =>
        await access.WorkflowAsync(http, id, ProjectNeed.Read) ?? (await queries.GetWorkflowAsync(id, ct) is { } workflow
            ? TypedResults.Ok(workflow with { Regressions = await results.RegressionsOfWorkflowAsync(id, ct) })
            : ApiProblems.NotFound($"workflow {id} does not exist"));

    private static async Task<IResult> CancelAsync(long id, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct) =>
        await access.WorkflowAsync(http, id, ProjectNeed.CancelOrRetry) ?? ActionResults.From(await actions.CancelWorkflowAsync(id, ct));

    private static async Task<IResult> RetryAsync(long id, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct) =>
        await access.WorkflowAsync(http, id, ProjectNeed.CancelOrRetry) ?? ActionResults.From(await actions.RetryWorkflowAsync(id, ct));
}

/// <summary>Maps a cancel or retry outcome to HTTP.</summary>
internal static class ActionResults
{
    public static IResult From(ActionResult result) => result.Status switch
    {
        ActionStatus.NotFound => ApiProblems.NotFound(result.Response.Message),
        ActionStatus.Conflict => ApiProblems.Conflict(result.Response.Message),
        _ => TypedResults.Ok(result.Response),
    };
}
