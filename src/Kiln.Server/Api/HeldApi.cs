using System.Globalization;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Core.Security;
using Kiln.Server.Security;
using Kiln.Store.Engine;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/held</c>: the workflows the storm guard held (docs/concurrency.md) — list them,
/// approve them (each runs, or is queued behind its concurrency group), discard them (cancelled,
/// never run). Approving and discarding are a project owner's (or a farm admin's) and are
/// audit-logged, one entry per project and call.
/// </summary>
public static class HeldApi
{
    private const int BodyMaxBytes = 64 * 1024;

    /// <summary>Workflows one approval or discard acts on at most (ids, first or all): a larger backlog takes several calls.</summary>
    public const int MaxPerAction = 10_000;

    public const int MaxIds = 1_000;

    public static IEndpointRouteBuilder MapHeldApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/held").WithTags("Held workflows");
        group.MapGet("/", ListAsync).Allow(AccessPolicy.Read)
            .Produces<Page<HeldWorkflowView>>()
            .WithSummary("Workflows held by the storm guard, oldest first (keyset-paginated), by project and rule; private projects only for their members.");
        group.MapPost("/approve", (HttpRequest request, [AsParameters] Services s, CancellationToken ct) => ActAsync(request, s, approve: true, ct))
            .Allow(AccessPolicy.ProjectOwner)
            .Accepts<HeldSelection>("application/json")
            .Produces<HeldActionResponse>()
            .WithSummary("Approve held workflows (ids, or the first N or all, by project and rule): each runs, or is queued behind its concurrency group. Project owners and admins; audit-logged.");
        group.MapPost("/discard", (HttpRequest request, [AsParameters] Services s, CancellationToken ct) => ActAsync(request, s, approve: false, ct))
            .Allow(AccessPolicy.ProjectOwner)
            .Accepts<HeldSelection>("application/json")
            .Produces<HeldActionResponse>()
            .WithSummary("Discard held workflows (ids, or the first N or all, by project and rule): cancelled without running. Project owners and admins; audit-logged.");
        return routes;
    }

    /// <summary>What an approval or discard uses, as one parameter.</summary>
    internal sealed record Services(HeldStore Held, WorkflowHolds Holds, GraphActions Actions, ConcurrencyStore Concurrency, ProjectAccess Access, AuditStore Audit);

    private static async Task<IResult> ListAsync(
        HttpContext http, HeldStore held, ProjectAccess access, string? project, string? rule, string? limit, string? after, CancellationToken ct)
    {
        var (n, cursor, problem) = ListQuery.Parse(limit, after);
        if (problem is not null)
        {
            return problem;
        }
        if ((NameProblem("project", project) ?? NameProblem("rule", rule)) is { } bad)
        {
            return bad;
        }
        if (project is not null && await access.ProjectAsync(http, project, ProjectNeed.Read) is not null)
        {
            return TypedResults.Ok(new Page<HeldWorkflowView>([], null));
        }
        var hidden = project is null ? await access.HiddenProjectsAsync(http) : null;
        return TypedResults.Ok(await held.ListAsync(new HeldFilter(project, rule, Hidden: hidden), cursor ?? 0, n, ct));
    }

    private static async Task<IResult> ActAsync(HttpRequest request, Services s, bool approve, CancellationToken ct)
    {
        var http = request.HttpContext;
        var (body, problem) = await ApiJson.ReadAsync<HeldSelection>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (Validate(body!) is { } invalid)
        {
            return invalid;
        }
        var (refusal, response) = await ApplyAsync(http, s, body!, approve, ct);
        return refusal ?? TypedResults.Ok(response);
    }

    /// <summary>Approves or discards a valid selection: the refusal, or what was done (the web interface's buttons call this too).</summary>
    internal static async Task<(IResult? Refusal, HeldActionResponse? Done)> ApplyAsync(HttpContext http, Services s, HeldSelection body, bool approve, CancellationToken ct)
    {
        var caller = Caller.Of(http);
        IReadOnlyList<(HeldWorkflowView View, long ProjectId)> selected;
        if (body!.Ids is { } ids)
        {
            foreach (var id in ids.Distinct())
            {
                if (await s.Access.WorkflowAsync(http, id, ProjectNeed.Own) is { } refused)
                {
                    return (refused, null);
                }
            }
            selected = await s.Held.SelectAsync(new HeldFilter(Ids: [.. ids.Distinct()]), 0, MaxIds, ct);
            var notHeld = ids.Distinct().Where(id => !selected.Any(x => x.View.Id == id)).Order().ToList();
            if (notHeld.Count > 0)
            {
                return (ApiProblems.Conflict("ids", $"workflow{(notHeld.Count == 1 ? "" : "s")} {string.Join(", ", notHeld.Take(10))} {(notHeld.Count == 1 ? "is" : "are")} not held " +
                    "(already approved, discarded or never held), so nothing was done; see kiln held list"), null);
            }
        }
        else
        {
            if (body.Project is { } name && await s.Access.ProjectAsync(http, name, ProjectNeed.Own) is { } refused)
            {
                return (refused, null);
            }
            // Without a project named, an owner's selection covers the projects it owns; an admin's, every project.
            long[]? owned = caller.IsAdmin ? null
                : [.. caller.User?.Roles.Where(r => r.Value >= ProjectRole.Owner).Select(r => r.Key) ?? []];
            selected = owned is { Length: 0 } ? [] : await s.Held.SelectAsync(new HeldFilter(body.Project, body.Rule, owned), 0, body.First ?? MaxPerAction, ct);
        }
        var workflows = selected.Select(x => x.View.Id).ToList();
        IReadOnlyList<long> running = [], queued = [];
        var discarded = new List<long>();
        if (approve)
        {
            queued = await s.Held.QueueAsync([.. selected.Where(x => x.View.ConcurrencyGroup is not null).Select(x => x.View.Id)], ct);
            running = await s.Holds.ReleaseAsync([.. selected.Where(x => x.View.ConcurrencyGroup is null).Select(x => x.View.Id)], ct);
        }
        else
        {
            foreach (var id in workflows)
            {
                if ((await s.Actions.CancelWorkflowAsync(id, ct)).Status == ActionStatus.Done)
                {
                    discarded.Add(id);
                }
            }
            await s.Concurrency.ClearHoldsAsync(discarded, ct);
        }
        var done = running.Concat(queued).Concat(discarded).ToHashSet();
        foreach (var project in selected.Where(x => done.Contains(x.View.Id)).GroupBy(x => x.View.Project))
        {
            await s.Audit.RecordAsync(caller.Actor, approve ? "held.approve" : "held.discard", $"project:{project.Key}",
                new { workflows = project.Select(x => x.View.Id).ToArray(), rule = body.Rule, first = body.First, all = body.All }, ct);
        }
        return (null, new HeldActionResponse(running, queued, discarded, Message(approve, running.Count, queued.Count, discarded.Count, body)));
    }

    private static string Message(bool approve, int running, int queued, int discarded, HeldSelection selection)
    {
        if (running + queued + discarded == 0)
        {
            var scope = string.Join(" ", new[] { selection.Project is { } p ? $"in project '{p}'" : null, selection.Rule is { } r ? $"of rule '{r}'" : null }.OfType<string>());
            return $"no held workflow {(scope.Length > 0 ? scope + " " : "")}that you own; nothing was done (kiln held list shows what is held)";
        }
        if (!approve)
        {
            return $"{discarded} held workflow(s) discarded: cancelled without running";
        }
        return queued == 0
            ? $"{running} held workflow(s) approved; they may run now"
            : $"{running + queued} held workflow(s) approved: {running} may run now, {queued} queued behind the running workflow of their concurrency group";
    }

    private static IResult? Validate(HeldSelection body)
    {
        var ways = (body.Ids is not null ? 1 : 0) + (body.First is not null ? 1 : 0) + (body.All == true ? 1 : 0);
        if (ways != 1)
        {
            return ApiProblems.Invalid("", "say which held workflows: 'ids', or 'first' (the N oldest), or 'all' — exactly one of them");
        }
        if (body.Ids is { } ids)
        {
            if (ids.Count is 0 or > MaxIds)
            {
                return ApiProblems.Invalid("ids", $"1 to {MaxIds} workflow ids");
            }
            if (ids.FindIndex(id => id < 1) is var bad and >= 0)
            {
                return ApiProblems.Invalid($"ids[{bad.ToString(CultureInfo.InvariantCulture)}]", "a workflow id is a positive number");
            }
            if (body.Project is not null || body.Rule is not null)
            {
                return ApiProblems.Invalid("ids", "'project' and 'rule' narrow 'first' and 'all'; ids name the workflows themselves");
            }
        }
        if (body.First is { } first && first is < 1 or > MaxPerAction)
        {
            return ApiProblems.Invalid("first", $"must be 1 to {MaxPerAction}");
        }
        return NameProblem("project", body.Project) ?? NameProblem("rule", body.Rule);
    }

    private static IResult? NameProblem(string field, string? value) =>
        value is not null && (value.Length is 0 or > 100 || !Names.Identifier().IsMatch(value))
            ? ApiProblems.Invalid(field, $"'{(value.Length > 40 ? value[..40] + "…" : value)}' is not a {field} name: 1 to 100 letters, digits, '.', '_' or '-'")
            : null;
}
