using Kiln.Contracts;
using Kiln.Server.Security;
using Kiln.Store.Events;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/events</c>: every event Kiln received and what it caused (docs/events.md), and pause
/// and resume of a source (admins), a repository link or a rule (the project's owners).
/// </summary>
public static class EventsApi
{
    private const int BodyMaxBytes = 4 * 1024;

    public static IEndpointRouteBuilder MapEventsApi(this IEndpointRouteBuilder routes)
    {
        var events = routes.MapGroup("/api/v1/events").WithTags("Events");
        events.MapGet("/", ListAsync)
            .Allow(AccessPolicy.User)
            .Produces<Page<EventSummary>>()
            .WithSummary("Events, newest first, with what each caused in one line; filter by source, state and project. Admins see all; others the events of projects they may see, never a rejected one.");
        events.MapGet("/{id:long}", async (long id, HttpContext http, ProjectAccess access, EventQueries queries, CancellationToken ct) =>
        {
            var caller = Caller.Of(http);
            return await queries.GetAsync(id, caller.IsAdmin, await access.HiddenProjectsAsync(http) ?? [], ct) is { } view
                ? TypedResults.Ok(view)
                : ApiProblems.NotFound($"event {id} does not exist");
        })
            .Allow(AccessPolicy.User)
            .Produces<EventView>()
            .WithSummary("One event: its facts, the headers kept, and every effect in order (workflow created, held, unchanged since workflow N, no rule matched and why, paused, rejected).");
        events.MapPost("/pause", (HttpContext http, ProjectAccess access, EventPauses pauses, TriggerStore triggers, AuditStore audit, CancellationToken ct) =>
            SetAsync(http, true, access, pauses, triggers, audit, ct))
            .Allow(AccessPolicy.ProjectOwner)
            .Accepts<EventPauseRequest>("application/json")
            .Produces<EventPauseView>()
            .WithSummary("Pause a source ({\"source\"}: admins), a repository link ({\"link\"}) or a rule ({\"project\", \"rule\"}: the project's owners). Events are still verified and stored, and kept.");
        events.MapPost("/resume", (HttpContext http, ProjectAccess access, EventPauses pauses, TriggerStore triggers, AuditStore audit, CancellationToken ct) =>
            SetAsync(http, false, access, pauses, triggers, audit, ct))
            .Allow(AccessPolicy.ProjectOwner)
            .Accepts<EventPauseRequest>("application/json")
            .Produces<EventPauseView>()
            .WithSummary("Resume what was paused: the kept events are processed in arrival order, once, through the input-change check and the storm guard.");
        return routes;
    }

    private static async Task<IResult> ListAsync(
        HttpContext http, ProjectAccess access, EventQueries queries, string? source, string? state, string? project, string? limit, string? after, CancellationToken ct)
    {
        var (n, cursor, problem) = ListQuery.Parse(limit, after);
        if (problem is not null)
        {
            return problem;
        }
        if (source is not null && !EventSources.All.Contains(source))
        {
            return ApiProblems.Invalid("source", $"use one of {string.Join(", ", EventSources.All)}");
        }
        if (state is not null && !EventStates.All.Contains(state))
        {
            return ApiProblems.Invalid("state", $"use one of {string.Join(", ", EventStates.All)}");
        }
        if (project is { Length: > 100 })
        {
            return ApiProblems.Invalid("project", "at most 100 characters");
        }
        var caller = Caller.Of(http);
        return TypedResults.Ok(await queries.ListAsync(source, state, project, cursor, n, caller.IsAdmin, await access.HiddenProjectsAsync(http) ?? [], ct));
    }

    private static async Task<IResult> SetAsync(
        HttpContext http, bool paused, ProjectAccess access, EventPauses pauses, TriggerStore triggers, AuditStore audit, CancellationToken ct)
    {
        var (request, problem) = await ApiJson.ReadAsync<EventPauseRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var r = request!;
        var targets = (r.Source is null ? 0 : 1) + (r.Link is null ? 0 : 1) + (r.Rule is null && r.Project is null ? 0 : 1);
        if (targets != 1)
        {
            return ApiProblems.Invalid("", "name exactly one of: source, link, or project with rule");
        }
        var caller = Caller.Of(http);
        string target;
        int backlog;
        if (r.Source is { } source)
        {
            if (!EventSources.All.Contains(source))
            {
                return ApiProblems.Invalid("source", $"use one of {string.Join(", ", EventSources.All)}");
            }
            if (!caller.IsAdmin)
            {
                return ApiProblems.Status(StatusCodes.Status403Forbidden, "Forbidden", "pausing a whole source is for farm admins; a project owner pauses its link or rule");
            }
            target = $"source:{source}";
            backlog = await pauses.SetSourceAsync(source, paused, ct);
        }
        else if (r.Link is { } link)
        {
            if (await pauses.LinkProjectAsync(link, ct) is not { } project)
            {
                return ApiProblems.NotFound($"repository link {link} does not exist");
            }
            if (await access.ProjectAsync(http, project, ProjectNeed.Own) is { } refused)
            {
                return refused;
            }
            target = $"link:{link}";
            backlog = await pauses.SetLinkAsync(link, paused, ct) ?? 0;
        }
        else
        {
            if (r.Project is not { } project || r.Rule is not { } name)
            {
                return ApiProblems.Invalid(r.Project is null ? "project" : "rule", "a rule is named by project and rule");
            }
            if (await access.ProjectAsync(http, project, ProjectNeed.Own) is { } refused)
            {
                return refused;
            }
            if (await triggers.RuleAsync(project, name, ct) is not { } rule)
            {
                return ApiProblems.NotFound($"project '{project}' has no rule '{name}'");
            }
            target = $"rule:{project}/{name}";
            backlog = await pauses.SetRuleAsync(rule.Id, paused, ct) ?? 0;
        }
        await audit.RecordAsync(caller.Actor, paused ? "events.pause" : "events.resume", target, new { backlog }, ct);
        return TypedResults.Ok(new EventPauseView(target, paused, backlog));
    }
}
