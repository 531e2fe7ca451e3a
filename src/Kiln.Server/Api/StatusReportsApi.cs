using Kiln.Contracts;
using Kiln.Server.Security;
using Kiln.Store.Outbox;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary><c>/api/v1/workflows/{id}/status-reports</c>: what the forges and webhook subscribers of a workflow were told (docs/status-reports.md).</summary>
public static class StatusReportsApi
{
    public static IEndpointRouteBuilder MapStatusReportsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workflows/{id:long}/status-reports").WithTags("Workflows");
        group.MapGet("/", GetAsync).Allow(AccessPolicy.Read)
            .WithSummary("Per forge status and webhook target of the workflow: desired (now) vs acknowledged state, attempts, the last answer, the next try.");
        group.MapPost("/retry", RetryAsync).Allow(AccessPolicy.Operate)
            .WithSummary("Try again the targets that failed for good (bad token, repository gone) once the cause is fixed. Maintainers, or the contributor who submitted it.");
        return routes;
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, OutboxQueries outbox, ProjectAccess access, CancellationToken ct) =>
        await access.WorkflowAsync(http, id, ProjectNeed.Read) ?? TypedResults.Ok(new StatusReportsView(id, await outbox.OfWorkflowAsync(id, ct)));

    private static async Task<IResult> RetryAsync(long id, HttpContext http, OutboxQueries outbox, ProjectAccess access, CancellationToken ct)
    {
        if (await access.WorkflowAsync(http, id, ProjectNeed.CancelOrRetry) is { } denied)
        {
            return denied;
        }
        var reopened = await outbox.RetryFailedAsync(id, ct);
        return TypedResults.Ok(new StatusReportsRetried(id, reopened, reopened == 0
            ? $"workflow {id} has no failed status report to retry"
            : $"{reopened} failed status report(s) of workflow {id} will be sent again"));
    }
}
