using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Kiln.Store.Scheduling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/projects</c>: the units of fairness (weight, base priority, cap), operator
/// re-prioritisation of waiting work, and "why is this waiting?" for any work request.
/// </summary>
public static class ProjectsApi
{
    private const int BodyMaxBytes = 16 * 1024;

    public static IEndpointRouteBuilder MapProjectsApi(this IEndpointRouteBuilder routes)
    {
        var projects = routes.MapGroup("/api/v1/projects").WithTags("Projects");
        projects.MapGet("/", async (HttpContext http, ProjectStore store, ProjectAccess access, string? limit, string? after, CancellationToken ct) =>
        {
            var (n, cursor, problem) = ListQuery.Parse(limit, after);
            return problem ?? TypedResults.Ok(await store.ListAsync(cursor, n, ct, await access.HiddenProjectsAsync(http)));
        }).Allow(AccessPolicy.Read).WithSummary("Projects with their weights, caps and current load; private ones only for their members.");
        projects.MapGet("/{name}", async (string name, HttpContext http, ProjectStore store, ProjectAccess access, Store.Workers.PoolStore pools, CancellationToken ct) =>
            await access.ProjectAsync(http, name, ProjectNeed.Read)
            ?? (await store.GetAsync(name, ct) is { } project
                ? TypedResults.Ok(project with { TrustedPools = await pools.TrustedPoolsAsync(project.Id, ct) })
                : ApiProblems.NotFound($"project '{name}' does not exist")))
            .Allow(AccessPolicy.Read)
            .WithSummary("One project.");
        projects.MapPut("/{name}", PutAsync)
            .Allow(AccessPolicy.Admin)
            .Accepts<ProjectSettings>("application/json")
            .Produces<ProjectView>()
            .WithSummary("Create a project or replace its settings (unset fields take their defaults: weight 1, base priority 0, no cap).");

        routes.MapGet("/api/v1/work-requests/{id:long}/explain", async (long id, HttpContext http, ExplainStore explain, ProjectAccess access, CancellationToken ct) =>
            await access.WorkRequestAsync(http, id, ProjectNeed.Read)
            ?? (await explain.ExplainAsync(id, ct) is { } view ? TypedResults.Ok(view) : ApiProblems.NotFound($"work request {id} does not exist")))
            .Allow(AccessPolicy.Read)
            .WithTags("Work requests")
            .Produces<ExplainView>()
            .WithSummary("Why the work request is not running (or what it is doing), in words.");
        routes.MapPost("/api/v1/work-requests/{id:long}/priority", SetPriorityAsync)
            .Allow(AccessPolicy.Operate)
            .WithTags("Work requests")
            .Accepts<PriorityChange>("application/json")
            .WithSummary("Set the priority of a waiting work request: {\"priority\": N}.");
        routes.MapPost("/api/v1/workflows/{id:long}/priority", AdjustWorkflowAsync)
            .Allow(AccessPolicy.Operate)
            .WithTags("Workflows")
            .Accepts<PriorityChange>("application/json")
            .WithSummary("Add to the priority of every waiting work request of a workflow: {\"adjust\": N}.");
        return routes;
    }

    private static async Task<IResult> PutAsync(string name, HttpRequest request, ProjectStore store, AuditStore audit, CancellationToken ct)
    {
        if (!Names.Identifier().IsMatch(name) || name.Length > 100)
        {
            return ApiProblems.Invalid("name", "a project name uses letters, digits, '.', '_' or '-' (at most 100)");
        }
        var (settings, problem) = await ApiJson.ReadAsync<ProjectSettings>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var errors = ProjectStore.Validate(settings!);
        return errors.Count > 0 ? ApiProblems.Invalid(errors) : TypedResults.Ok(await store.PutAsync(name, settings!, ct, (audit, Caller.Of(request.HttpContext).Actor)));
    }

    private static async Task<IResult> SetPriorityAsync(long id, HttpRequest request, ProjectStore store, ProjectAccess access, CancellationToken ct)
    {
        if (await access.WorkRequestAsync(request.HttpContext, id, ProjectNeed.Prioritise) is { } refused)
        {
            return refused;
        }
        var (priority, problem) = await ReadPriorityAsync(request, c => c.Priority, "priority", "give the new priority", ct);
        if (problem is not null)
        {
            return problem;
        }
        var changed = await store.SetPriorityAsync(id, priority, ct);
        return TypedResults.Ok(new ActionResponse(changed, changed == 1
            ? $"work request {id} now has priority {priority}"
            : $"work request {id} is not waiting (or already has priority {priority}); nothing changed"));
    }

    private static async Task<IResult> AdjustWorkflowAsync(long id, HttpRequest request, ProjectStore store, ProjectAccess access, CancellationToken ct)
    {
        if (await access.WorkflowAsync(request.HttpContext, id, ProjectNeed.Prioritise) is { } refused)
        {
            return refused;
        }
        var (adjust, problem) = await ReadPriorityAsync(request, c => c.Adjust, "adjust", "give the amount to add", ct);
        if (problem is not null)
        {
            return problem;
        }
        var changed = await store.AdjustWorkflowAsync(id, adjust, ct);
        return TypedResults.Ok(new ActionResponse(changed, $"{changed} waiting work request(s) of workflow {id} re-prioritised by {adjust:+#;-#;0}"));
    }

    /// <summary>Reads a <see cref="PriorityChange"/> and the one field an endpoint uses, within ±2000.</summary>
    private static async Task<(int Value, IResult? Problem)> ReadPriorityAsync(
        HttpRequest request, Func<PriorityChange, int?> field, string name, string hint, CancellationToken ct)
    {
        var (change, problem) = await ApiJson.ReadAsync<PriorityChange>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return (0, problem);
        }
        return field(change!) is { } value && value is >= -2000 and <= 2000
            ? (value, null)
            : (0, ApiProblems.Invalid(name, $"{hint}, between -2000 and 2000"));
    }
}
