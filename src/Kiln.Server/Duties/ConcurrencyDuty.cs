using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Database;
using Kiln.Store.Engine;
using Kiln.Store.Events;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Duties;

/// <summary>
/// Keeps every concurrency group (docs/concurrency.md) at one running and one pending workflow.
/// Per group with a queued workflow, oldest first: every queued one but the newest is superseded
/// (marked <c>superseded_by</c> the newest, then cancelled, so it ends <c>superseded</c>); if the
/// newest has <c>cancel-in-progress</c>, the group's running workflow is cancelled; when nothing
/// of the group runs, the newest is released (<see cref="WorkflowHolds.ReleaseAsync"/>). What it
/// did is appended to the events of the workflows concerned.
/// Runs every duty tick (1 s) and at once when a submission or an approval queues a workflow
/// (<see cref="ConcurrencySignalListener"/>); passes never overlap. Every decision is taken from
/// the rows as they are, so a pass cut short (a crash, lost leadership) is finished by the next:
/// a workflow marked superseded but not yet cancelled is cancelled then.
/// Only this duty releases a grouped workflow, and only one replica leads, so two workflows of a
/// group are never both released.
/// </summary>
public sealed partial class ConcurrencyDuty(
    ConcurrencyStore store, GraphActions actions, WorkflowHolds holds, EventStore events, ILogger<ConcurrencyDuty> logger) : ILeaderDuty, IDisposable
{
    private const int GroupsPerPage = 200;

    private readonly SemaphoreSlim _pass = new(1, 1);

    public string Name => "concurrency groups";

    public void Dispose() => _pass.Dispose();

    public async Task RunAsync(LeaderLease leader, CancellationToken ct)
    {
        await _pass.WaitAsync(ct);
        try
        {
            var (afterProject, afterGroup) = (0L, "");
            while (leader.MayRunDuties)
            {
                var members = await store.MembersAsync(GroupsPerPage, afterProject, afterGroup, ct);
                var groups = members.GroupBy(m => (m.ProjectId, m.Group)).ToList();
                foreach (var group in groups)
                {
                    if (!leader.MayRunDuties)
                    {
                        return;
                    }
                    await DecideAsync([.. group], ct);
                }
                if (groups.Count < GroupsPerPage)
                {
                    return;
                }
                (afterProject, afterGroup) = groups[^1].Key;
            }
        }
        finally
        {
            _pass.Release();
        }
    }

    /// <param name="members">The group's running and queued workflows, oldest first; at least one queued.</param>
    private async Task DecideAsync(List<ConcurrencyMember> members, CancellationToken ct)
    {
        var queued = members.Where(m => m.State == WorkflowState.Queued).ToList();
        var newest = queued.LastOrDefault(m => m.SupersededBy is null);
        var older = queued.Where(m => m != newest).ToList();
        if (older.Count > 0)
        {
            await SupersedeAsync(older, newest, ct);
        }
        if (newest is null)
        {
            return;
        }
        var running = members.Where(m => m.State == WorkflowState.Running).ToList();
        if (running.Count == 0)
        {
            if ((await holds.ReleaseAsync([newest.Id], ct)).Count > 0)
            {
                LogReleased(logger, newest.Id, newest.Group, newest.Project);
            }
            return;
        }
        if (!newest.CancelInProgress)
        {
            return;
        }
        foreach (var r in running)
        {
            // Asked once: a second cancel of a workflow whose jobs are already told to stop changes nothing.
            var cancelled = await actions.CancelWorkflowAsync(r.Id, ct);
            if (cancelled.Response.Affected > 0)
            {
                LogCancelledRunning(logger, r.Id, newest.Id, newest.Group);
                await EffectAsync(newest.EventId, new EventEffect(EventEffectKinds.CancelledRunning,
                    $"workflow {newest.Id} cancelled workflow {r.Id}, the running one of concurrency group '{newest.Group}' (cancel-in-progress)",
                    r.Id, Project: newest.Project), ct);
                await EffectAsync(r.EventId, new EventEffect(EventEffectKinds.CancelledRunning,
                    $"its workflow {r.Id} was cancelled by the newer workflow {newest.Id} of concurrency group '{newest.Group}' (cancel-in-progress)",
                    r.Id, Project: newest.Project), ct);
            }
        }
    }

    /// <summary>Marks, then cancels: a cancel cut short is done again by the next pass (the mark says why).</summary>
    private async Task SupersedeAsync(List<ConcurrencyMember> older, ConcurrencyMember? newest, CancellationToken ct)
    {
        var marked = newest is null ? [] : await store.SupersedeAsync([.. older.Where(m => m.SupersededBy is null).Select(m => m.Id)], newest.Id, ct);
        foreach (var m in older)
        {
            await actions.CancelWorkflowAsync(m.Id, ct);
        }
        await store.ClearHoldsAsync([.. older.Select(m => m.Id)], ct);
        foreach (var id in marked)
        {
            var m = older.First(o => o.Id == id);
            LogSuperseded(logger, id, newest!.Id, m.Group);
            await EffectAsync(newest.EventId, new EventEffect(EventEffectKinds.Superseded,
                $"workflow {newest.Id} superseded workflow {id}, the older pending one of concurrency group '{m.Group}', which ended superseded without running",
                id, Project: m.Project), ct);
            await EffectAsync(m.EventId, new EventEffect(EventEffectKinds.Superseded,
                $"its workflow {id} was superseded by the newer workflow {newest.Id} of concurrency group '{m.Group}' before it ran",
                id, Project: m.Project), ct);
        }
    }

    private async Task EffectAsync(long? eventId, EventEffect effect, CancellationToken ct)
    {
        if (eventId is { } id)
        {
            await events.AppendEffectsAsync(id, [effect], ct);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Released workflow {Workflow}, the newest queued of concurrency group '{Group}' of project '{Project}'")]
    private static partial void LogReleased(ILogger logger, long workflow, string group, string project);

    [LoggerMessage(Level = LogLevel.Information, Message = "Workflow {Workflow} superseded by {Newer} in concurrency group '{Group}'")]
    private static partial void LogSuperseded(ILogger logger, long workflow, long newer, string group);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cancelled running workflow {Workflow} for the newer {Newer} of concurrency group '{Group}' (cancel-in-progress)")]
    private static partial void LogCancelledRunning(ILogger logger, long workflow, long newer, string group);
}
