using Kiln.Contracts;
using Kiln.Core;
using Kiln.Core.Triggers;
using Kiln.Server.Hosting;
using Kiln.Server.Security;
using Kiln.Store.Events;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/projects/{name}/triggers</c>: a project's trigger rules (docs/events.md) — set by its
/// owners as a whole file, every version kept; read by whoever may see the project; run by hand by
/// its contributors (a <c>manual</c> event, processed like any other).
/// </summary>
public static class TriggersApi
{
    private const int RunBodyMaxBytes = 64 * 1024;

    public static IEndpointRouteBuilder MapTriggersApi(this IEndpointRouteBuilder routes)
    {
        var triggers = routes.MapGroup("/api/v1/projects/{name}/triggers").WithTags("Triggers");
        triggers.MapPut("/", SetAsync)
            .Allow(AccessPolicy.ProjectOwner)
            .Accepts<TriggerSetRequest>("application/json")
            .Produces<TriggerSetView>()
            .WithSummary("Set the project's trigger rules (the whole file, with the workflows it names): a new version; rules keep their identity by name. Errors name rules[N].field. Project owners and admins.");
        triggers.MapGet("/", async (string name, HttpContext http, ProjectAccess access, TriggerStore store, CancellationToken ct) =>
            await access.ProjectAsync(http, name, ProjectNeed.Read)
            ?? TypedResults.Ok(await store.CurrentAsync(name, ct) ?? new TriggerSetView(name, 0, "", default, null, [])))
            .Allow(AccessPolicy.Read)
            .Produces<TriggerSetView>()
            .WithSummary("The project's current trigger rules: the file as written and each rule with its state (paused, burst limit, last schedule slot); version 0 and no rules when none were set.");
        triggers.MapGet("/history", async (string name, HttpContext http, ProjectAccess access, TriggerStore store, CancellationToken ct) =>
            await access.ProjectAsync(http, name, ProjectNeed.Read) ?? TypedResults.Ok(await store.HistoryAsync(name, ct)))
            .Allow(AccessPolicy.Read)
            .Produces<IReadOnlyList<TriggerVersionView>>()
            .WithSummary("Every version of the project's rules file, newest first (at most 100), with who set it and its rule names.");
        triggers.MapPost("/{rule}/run", RunAsync)
            .Allow(AccessPolicy.Submit)
            .Accepts<TriggerRunRequest>("application/json")
            .Produces<EventAccepted>(StatusCodes.Status202Accepted)
            .Produces<EventAccepted>()
            .WithSummary("Run a rule by hand: stores a manual event for it (202; 200 when a run with the same input key was stored before) and processes it like any other. Contributors.");
        return routes;
    }

    private static async Task<IResult> SetAsync(
        string name, HttpContext http, ProjectAccess access, WorkflowPlanner planner, TriggerStore store, AuditStore audit, KilnServerOptions options, CancellationToken ct)
    {
        if (await access.ProjectAsync(http, name, ProjectNeed.Own) is { } refused)
        {
            return refused;
        }
        var (request, problem) = await ApiJson.ReadAsync<TriggerSetRequest>(http.Request, options.MaxDocumentBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var (rules, errors) = TriggerRules.Validate(request, name, planner);
        if (errors.Count > 0)
        {
            return ApiProblems.Invalid(errors);
        }
        var caller = Caller.Of(http);
        if (await store.SetAsync(name, request!.Text!, rules, caller.User?.UserId, ct) is not { } version)
        {
            return ApiProblems.NotFound($"project '{name}' does not exist");
        }
        await audit.RecordAsync(caller.Actor, "triggers.set", $"project:{name}", new { version, rules = rules.Select(r => r.Definition.Name).ToList() }, ct);
        return TypedResults.Ok(await store.CurrentAsync(name, ct));
    }

    private static async Task<IResult> RunAsync(
        string name, string rule, HttpContext http, ProjectAccess access, TriggerStore store, EventStore events, CancellationToken ct)
    {
        if (await access.ProjectAsync(http, name, ProjectNeed.Submit) is { } refused)
        {
            return refused;
        }
        TriggerRunRequest? run = new();
        if (http.Request.ContentLength is > 0 || http.Request.Headers.TransferEncoding.Count > 0)
        {
            (run, var problem) = await ApiJson.ReadAsync<TriggerRunRequest>(http.Request, RunBodyMaxBytes, ct);
            if (problem is not null)
            {
                return problem;
            }
        }
        run ??= new();
        if (Invalid(run) is { } bad)
        {
            return bad;
        }
        if (await store.RuleAsync(name, rule, ct) is not { Active: true } stored)
        {
            return ApiProblems.NotFound($"project '{name}' has no rule '{rule}'; see kiln trigger list {name}");
        }
        var key = run.InputKey is { } given ? $"manual:{stored.Id}:{given}" : $"manual:{Guid.NewGuid():N}";
        var accepted = await events.InsertAsync(new NewEvent(
            EventSources.Manual, key, EventTypes.Manual, EventStates.Received,
            new EventFacts { Project = name, Rule = rule, Params = run.Params, InputKey = run.InputKey, Sender = Caller.Of(http).User?.Name },
            new Dictionary<string, string>(), null, [], http.Connection.RemoteIpAddress?.ToString()), ct);
        return accepted.Duplicate ? TypedResults.Ok(accepted) : TypedResults.Json(accepted, statusCode: StatusCodes.Status202Accepted);
    }

    private static IResult? Invalid(TriggerRunRequest run)
    {
        var errors = new List<ValidationError>();
        if (run.Params is { Count: > 50 })
        {
            errors.Add(new("params", "at most 50 params"));
        }
        foreach (var (k, v) in run.Params ?? [])
        {
            if (k.Length is 0 or > 100 || !Names.Identifier().IsMatch(k))
            {
                errors.Add(new($"params.{(k.Length > 100 ? k[..100] : k)}", "a parameter name: letters, digits, '.', '_' or '-', at most 100 characters"));
            }
            else if (v is null || v.Length > 1000 || v.Contains('\0', StringComparison.Ordinal))
            {
                errors.Add(new($"params.{k}", "a value of at most 1000 characters"));
            }
        }
        if (run.InputKey is { } key && (key.Length is 0 or > 200 || key.Any(char.IsControl)))
        {
            errors.Add(new("inputKey", "1 to 200 characters without control characters"));
        }
        return errors.Count > 0 ? ApiProblems.Invalid(errors) : null;
    }
}
