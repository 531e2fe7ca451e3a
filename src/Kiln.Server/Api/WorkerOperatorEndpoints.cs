using System.Globalization;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Security;
using Kiln.Store.Engine;
using Kiln.Store.Identity;
using Kiln.Store.Workers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/workers/{name}</c>: what an operator does to a worker — disable it (its secret is
/// refused, it is handed nothing, its running work is handed back uncharged), enable it again,
/// or remove it from the lists, and approve a worker whose pool requires approval. Each needs
/// the admin right.
/// </summary>
internal static class WorkerOperatorEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        group.MapPost("/{name}/disable", DisableAsync)
            .Allow(AccessPolicy.Admin)
            .Produces<ActionResponse>()
            .WithSummary("Disable a worker: its secret stops working, it is handed no work and may not register again; its running work is handed back uncharged.");
        group.MapPost("/{name}/enable", EnableAsync)
            .Allow(AccessPolicy.Admin)
            .Produces<ActionResponse>()
            .WithSummary("Enable a disabled worker: it may register again (and must, to get a new secret).");
        group.MapPost("/{name}/approve", ApproveAsync)
            .Allow(AccessPolicy.Admin)
            .Produces<ActionResponse>()
            .WithSummary("Approve a worker of a pool that requires approval: it is handed work from its next claim.");
        group.MapDelete("/{name}", RemoveAsync)
            .Allow(AccessPolicy.Admin)
            .Produces<ActionResponse>()
            .WithSummary("Remove a worker that runs nothing from the lists; its attempts keep its name.");
    }

    /// <summary>The refusal a disabled worker gets, when it registers or presents its old secret.</summary>
    public static IResult Disabled(string name) => ApiProblems.Status(StatusCodes.Status403Forbidden, "Worker disabled",
        $"worker '{name}' is disabled by an operator; enable it with 'kiln worker enable {name}' (POST /api/v1/workers/{name}/enable), then start it again");

    internal static async Task<IResult> DisableAsync(string name, HttpContext http, WorkerStore workers, ReportStore reports, AuditStore audit, CancellationToken ct)
    {
        if (Invalid(name) is { } problem)
        {
            return problem;
        }
        // What it holds is read before the disable commits and again after: a claim racing the
        // disable lands in the second read, and a lease the leader's reaper hands back between
        // the commit and the second read (it sweeps disabled workers' leases too) is still in
        // the first. Each goes through the same fenced end a re-registering worker's leftovers
        // go through (released, not charged); a repeat finds the reaper's recorded release.
        var before = await workers.IdOfAsync(name, ct) is { } known ? await workers.HeldLeasesAsync(known, ct) : [];
        if (await workers.DisableAsync(name, ct) is not var (id, changed))
        {
            return Unknown(name);
        }
        if (changed)
        {
            await audit.RecordAsync(Caller.Of(http).Actor, "worker.disable", $"worker:{name}", null, ct);
        }
        var released = new List<long>();
        foreach (var held in before.Concat(await workers.HeldLeasesAsync(id, ct)).DistinctBy(h => h.LeaseToken))
        {
            var result = await reports.ReportAsync(id, held.WorkRequestId, held.LeaseToken, AttemptEnd.Released, null, "the worker was disabled by an operator", ct);
            if (result.Status == ReportStatus.Recorded
                || (result.Status == ReportStatus.Repeated && result.Response?.Outcome == AttemptOutcome.Released))
            {
                released.Add(held.WorkRequestId);
            }
        }
        var what = released.Count == 0
            ? "it ran nothing"
            : $"{released.Count} running work request(s) handed back to the queue without charging an attempt: {string.Join(", ", released.Select(r => r.ToString(CultureInfo.InvariantCulture)))}";
        var message = changed
            ? $"worker '{name}' disabled: its secret is refused and it gets no work; {what}; undo with 'kiln worker enable {name}'"
            : $"worker '{name}' was already disabled; {what}";
        return TypedResults.Ok(new ActionResponse(released.Count, message));
    }

    internal static async Task<IResult> EnableAsync(string name, HttpContext http, WorkerStore workers, AuditStore audit, CancellationToken ct)
    {
        if (Invalid(name) is { } problem)
        {
            return problem;
        }
        if (await workers.EnableAsync(name, ct) is not var (_, changed))
        {
            return Unknown(name);
        }
        if (changed)
        {
            await audit.RecordAsync(Caller.Of(http).Actor, "worker.enable", $"worker:{name}", null, ct);
        }
        return TypedResults.Ok(changed
            ? new ActionResponse(1, $"worker '{name}' enabled; it gets a new secret when it registers again (start 'kiln worker --name {name}')")
            : new ActionResponse(0, $"worker '{name}' is not disabled; nothing changed"));
    }

    internal static async Task<IResult> ApproveAsync(string name, HttpContext http, WorkerStore workers, AuditStore audit, CancellationToken ct)
    {
        if (Invalid(name) is { } problem)
        {
            return problem;
        }
        if (await workers.ApproveAsync(name, ct) is not var (_, changed))
        {
            return Unknown(name);
        }
        if (changed)
        {
            await audit.RecordAsync(Caller.Of(http).Actor, "worker.approve", $"worker:{name}", null, ct);
        }
        return TypedResults.Ok(changed
            ? new ActionResponse(1, $"worker '{name}' approved: it is handed work from its next claim")
            : new ActionResponse(0, $"worker '{name}' was already approved; nothing changed"));
    }

    private static async Task<IResult> RemoveAsync(string name, HttpContext http, WorkerStore workers, AuditStore audit, CancellationToken ct)
    {
        if (Invalid(name) is { } problem)
        {
            return problem;
        }
        if (await workers.RemoveAsync(name, ct) is not var (_, count, running))
        {
            return Unknown(name);
        }
        if (count > 0)
        {
            var listed = string.Join(", ", running.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Id} ({r.WorkflowId}/{r.Job})")));
            var more = count > running.Count ? $" and {count - running.Count} more" : "";
            return ApiProblems.Conflict(
                $"worker '{name}' runs {count} work request(s): {listed}{more}; wait for them to end, or disable it first ('kiln worker disable {name}' hands them back)");
        }
        await audit.RecordAsync(Caller.Of(http).Actor, "worker.remove", $"worker:{name}", null, ct);
        return TypedResults.Ok(new ActionResponse(1, $"worker '{name}' removed; its attempts keep its name, and it appears again only if it registers again"));
    }

    private static IResult? Invalid(string name) => Names.Identifier().IsMatch(name) && name.Length <= 100
        ? null
        : ApiProblems.Invalid("name", "a worker name uses letters, digits, '.', '_' or '-' (at most 100)");

    private static IResult Unknown(string name) =>
        ApiProblems.NotFound($"no worker named '{name}'; 'kiln workers --all' lists the registered ones (removed workers are not listed)");
}
