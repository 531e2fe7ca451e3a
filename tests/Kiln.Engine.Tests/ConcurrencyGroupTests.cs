using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Duties;
using Kiln.Store.Database;
using Kiln.Store.Engine;
using Kiln.Store.Events;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// Concurrency groups as the leader's <see cref="ConcurrencyDuty"/> keeps them: at most one
/// running and one pending per group; a newer pending supersedes the older; cancel-in-progress
/// cancels the running one; the newest queued is released when the group is free.
/// </summary>
public sealed class ConcurrencyGroupTests : EngineTest
{
    private ConcurrencyStore Store => new(E.DataSource);
    private EventStore Events => new(E.DataSource, E.Time);

    private async Task<ConcurrencyDuty> DutyAsync()
    {
        var leader = new LeaderLease(E.DataSource, new LeadershipOptions(), TimeProvider.System, NullLogger<LeaderLease>.Instance);
        Assert.True(await leader.TickAsync(default));
        _leader = leader;
        return new ConcurrencyDuty(Store, E.Actions, new WorkflowHolds(E.DataSource, E.Time), Events, NullLogger<ConcurrencyDuty>.Instance);
    }

    private LeaderLease? _leader;

    private async Task PassAsync(ConcurrencyDuty duty) => await duty.RunAsync(_leader!, default);

    /// <summary>Submits as WorkflowSubmission does for a grouped workflow: queued, with the plan's group; with an event of its own.</summary>
    private async Task<(long Workflow, long Event)> SubmitAsync(string group, bool cancelInProgress = false, string project = "default")
    {
        var doc = new WorkflowDocument
        {
            Project = project,
            Concurrency = new() { Group = group, CancelInProgress = cancelInProgress },
            Jobs = new() { ["build"] = new() { Run = "make" } },
        };
        var (plan, _) = E.Planner.Plan(doc);
        var e = await Events.InsertAsync(new NewEvent(EventSources.Manual, Guid.NewGuid().ToString(), EventTypes.Manual, EventStates.Processed,
            new EventFacts(), new Dictionary<string, string>(), null, [], null), default);
        var origin = new WorkflowOrigin(EventId: e.EventId, Hold: WorkflowState.Queued, ConcurrencyGroup: plan!.Concurrency!.Group, CancelInProgress: plan.Concurrency.CancelInProgress);
        return ((await E.Submissions.SubmitAsync(plan, "{}", default, origin: origin)).WorkflowId, e.EventId);
    }

    private async Task<IReadOnlyList<EventEffect>> EffectsAsync(long eventId)
    {
        await using var cmd = E.DataSource.CreateCommand("SELECT effects::text FROM events WHERE id = @id");
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", eventId));
        return EventJson.ReadEffects((string)(await cmd.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task The_first_workflow_of_a_free_group_runs_and_the_next_waits_for_it_to_end()
    {
        var duty = await DutyAsync();
        var worker = await E.WorkerAsync("w1");
        var (first, _) = await SubmitAsync("deploy");
        Assert.Empty(await E.ClaimAsync(worker));

        await PassAsync(duty);
        var build = await E.ClaimOneAsync(worker);
        Assert.Equal(WorkflowState.Running, (await E.WorkflowAsync(first)).State);

        var (second, _) = await SubmitAsync("deploy");
        await PassAsync(duty);
        Assert.Equal(WorkflowState.Queued, (await E.WorkflowAsync(second)).State);
        Assert.Empty(await E.ClaimAsync(worker));

        await E.CompleteAsync(build);
        await PassAsync(duty);
        Assert.Equal(WorkflowState.Running, (await E.WorkflowAsync(second)).State);
        Assert.Equal(second, (await E.ClaimOneAsync(worker)).WorkflowId);
    }

    [Fact]
    public async Task A_newer_pending_workflow_supersedes_the_older_which_ends_superseded_and_never_runs()
    {
        var duty = await DutyAsync();
        var worker = await E.WorkerAsync("w1");
        var (running, _) = await SubmitAsync("main");
        await PassAsync(duty);
        var build = await E.ClaimOneAsync(worker);
        var (older, olderEvent) = await SubmitAsync("main");
        var (newer, newerEvent) = await SubmitAsync("main");

        await PassAsync(duty);

        var replaced = await E.WorkflowAsync(older);
        Assert.Equal(WorkflowState.Superseded, replaced.State);
        Assert.Equal(newer, replaced.Origin!.SupersededBy);
        Assert.Equal(WorkRequestState.Cancelled, Assert.Single(replaced.Jobs!).State);
        Assert.Equal(WorkflowState.Queued, (await E.WorkflowAsync(newer)).State);
        Assert.Equal(WorkflowState.Running, (await E.WorkflowAsync(running)).State);
        var effect = Assert.Single(await EffectsAsync(newerEvent));
        Assert.Equal((EventEffectKinds.Superseded, older), (effect.Kind, effect.WorkflowId));
        Assert.Contains($"superseded by the newer workflow {newer}", Assert.Single(await EffectsAsync(olderEvent)).Message);

        // Passes after change nothing more; the survivor runs once the group is free.
        await PassAsync(duty);
        Assert.Single(await EffectsAsync(newerEvent));
        await E.CompleteAsync(build);
        await PassAsync(duty);
        Assert.Equal(newer, (await E.ClaimOneAsync(worker)).WorkflowId);
        Assert.Equal(WorkflowState.Superseded, (await E.WorkflowAsync(older)).State);
    }

    [Fact]
    public async Task Cancel_in_progress_cancels_the_running_workflow_once_and_releases_the_newer_when_it_has_stopped()
    {
        var duty = await DutyAsync();
        var worker = await E.WorkerAsync("w1");
        var (running, runningEvent) = await SubmitAsync("pr-7", cancelInProgress: true);
        await PassAsync(duty);
        var build = await E.ClaimOneAsync(worker);
        var (newer, newerEvent) = await SubmitAsync("pr-7", cancelInProgress: true);

        await PassAsync(duty);
        await PassAsync(duty);

        var heartbeat = await E.Claims.HeartbeatAsync(worker.Id, [new LeaseRef(build.WorkRequestId, build.LeaseToken)], EngineFixture.Lease, default);
        Assert.Equal("cancel", Assert.Single(heartbeat).Status);
        Assert.Equal(WorkflowState.Queued, (await E.WorkflowAsync(newer)).State);
        Assert.Equal(EventEffectKinds.CancelledRunning, Assert.Single(await EffectsAsync(newerEvent)).Kind);
        Assert.Equal(EventEffectKinds.CancelledRunning, Assert.Single(await EffectsAsync(runningEvent)).Kind);

        await E.CompleteAsync(build, AttemptEnd.Cancelled, exitCode: null);
        await PassAsync(duty);
        Assert.Equal(WorkflowState.Cancelled, (await E.WorkflowAsync(running)).State);
        Assert.Equal(newer, (await E.ClaimOneAsync(worker)).WorkflowId);
    }

    [Fact]
    public async Task Without_cancel_in_progress_the_running_workflow_is_left_to_finish()
    {
        var duty = await DutyAsync();
        var worker = await E.WorkerAsync("w1");
        await SubmitAsync("g");
        await PassAsync(duty);
        var build = await E.ClaimOneAsync(worker);
        await SubmitAsync("g");

        await PassAsync(duty);

        var heartbeat = await E.Claims.HeartbeatAsync(worker.Id, [new LeaseRef(build.WorkRequestId, build.LeaseToken)], EngineFixture.Lease, default);
        Assert.NotEqual("cancel", Assert.Single(heartbeat).Status);
    }

    [Fact]
    public async Task Groups_of_the_same_name_in_two_projects_and_two_groups_of_one_project_do_not_wait_for_each_other()
    {
        var duty = await DutyAsync();
        var (a, _) = await SubmitAsync("deploy", project: "p1");
        var (b, _) = await SubmitAsync("deploy", project: "p2");
        var (c, _) = await SubmitAsync("other", project: "p1");

        await PassAsync(duty);

        foreach (var id in new[] { a, b, c })
        {
            Assert.Equal(WorkflowState.Running, (await E.WorkflowAsync(id)).State);
        }
    }

    [Fact]
    public async Task A_pass_cut_short_after_marking_a_workflow_superseded_is_finished_by_the_next()
    {
        var duty = await DutyAsync();
        var (older, _) = await SubmitAsync("g");
        var (newer, _) = await SubmitAsync("g");
        // As if the leader died right after the mark, before the cancel.
        Assert.Equal([older], await Store.SupersedeAsync([older], newer, default));
        Assert.Equal(WorkflowState.Queued, (await E.WorkflowAsync(older)).State);

        await PassAsync(duty);

        Assert.Equal(WorkflowState.Superseded, (await E.WorkflowAsync(older)).State);
        Assert.Equal(WorkflowState.Running, (await E.WorkflowAsync(newer)).State);
        Assert.Equal(newer, (await E.ClaimOneAsync(await E.WorkerAsync("w1"))).WorkflowId);
    }
}
