using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;

namespace Kiln.Engine.Tests;

/// <summary>
/// The gate under every held or queued workflow (SubmissionStore, WorkflowHolds): stored whole,
/// nothing of it claimable whatever happens meanwhile, until it is released; its timeout starts then.
/// </summary>
public sealed class WorkflowHoldGateTests : EngineTest
{
    private async Task<long> SubmitHeldAsync(WorkflowDocument doc, string hold = WorkflowState.Held)
    {
        var (plan, errors) = E.Planner.Plan(doc);
        Assert.True(plan is not null, string.Join("; ", errors.Select(e => e.Message)));
        // The document as the API stores it: the release reads the workflow's timeout from it.
        var json = System.Text.Json.JsonSerializer.Serialize(doc, Kiln.Server.Api.ApiJson.Options);
        return (await E.Submissions.SubmitAsync(plan, json, default, origin: new WorkflowOrigin(Hold: hold))).WorkflowId;
    }

    [Theory]
    [InlineData(WorkflowState.Held)]
    [InlineData(WorkflowState.Queued)]
    public async Task A_held_workflows_work_is_never_claimed_until_it_is_released(string hold)
    {
        var wf = await SubmitHeldAsync(EngineFixture.Doc(("a", []), ("b", ["a"]), ("c", [])), hold);
        var worker = await E.WorkerAsync("w1");

        Assert.Equal(hold, (await E.WorkflowAsync(wf)).State);
        Assert.All((await E.WorkflowAsync(wf)).Jobs!, j => Assert.Equal(WorkRequestState.Blocked, j.State));
        // Neither time, nor the reaper, nor a retry opens the gate.
        E.Time.Advance(TimeSpan.FromHours(2));
        await E.Reaper.ReapExpiredAsync(100, default);
        Assert.Equal(ActionStatus.Conflict, (await E.Actions.RetryWorkflowAsync(wf, default)).Status);
        Assert.Empty(await E.ClaimAsync(worker, 8));

        Assert.Equal([wf], await new WorkflowHolds(E.DataSource, E.Time).ReleaseAsync([wf], default));

        Assert.Equal(WorkflowState.Running, (await E.WorkflowAsync(wf)).State);
        var claimed = await E.ClaimAsync(worker, 8);
        Assert.Equal(["a", "c"], claimed.Select(a => a.Name).Order());
        Assert.Equal(WorkRequestState.Blocked, await E.StateOfAsync(wf, "b"));
        await E.CompleteAsync(claimed.Single(a => a.Name == "a"));
        Assert.Equal("b", (await E.ClaimOneAsync(worker)).Name);
    }

    [Fact]
    public async Task Releasing_twice_releases_once()
    {
        var wf = await SubmitHeldAsync(EngineFixture.Doc(("a", [])));
        var holds = new WorkflowHolds(E.DataSource, E.Time);

        Assert.Equal([wf], await holds.ReleaseAsync([wf], default));
        Assert.Empty(await holds.ReleaseAsync([wf], default));

        var a = await E.ClaimOneAsync(await E.WorkerAsync("w1"));
        await E.CompleteAsync(a);
        Assert.Equal(WorkflowState.Succeeded, (await E.WorkflowAsync(wf)).State);
    }

    [Fact]
    public async Task A_held_workflows_timeout_counts_from_its_release()
    {
        var wf = await SubmitHeldAsync(new WorkflowDocument { Timeout = 600, Jobs = new() { ["build"] = new() { Run = "make" } } });
        var timeouts = new WorkflowTimeouts(E.DataSource, E.Actions, E.Time);

        E.Time.Advance(TimeSpan.FromSeconds(3600));
        Assert.Equal(0, await timeouts.CancelExpiredAsync(50, default));
        await new WorkflowHolds(E.DataSource, E.Time).ReleaseAsync([wf], default);
        E.Time.Advance(TimeSpan.FromSeconds(599));
        Assert.Equal(0, await timeouts.CancelExpiredAsync(50, default));
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "build"));

        E.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await timeouts.CancelExpiredAsync(50, default));
        Assert.Equal(WorkflowState.Cancelled, (await E.WorkflowAsync(wf)).State);
    }

    [Fact]
    public async Task Discarding_a_held_workflow_cancels_it_without_anything_running()
    {
        var wf = await SubmitHeldAsync(EngineFixture.Doc(("a", []), ("b", ["a"])));

        Assert.Equal(ActionStatus.Done, (await E.Actions.CancelWorkflowAsync(wf, default)).Status);

        var view = await E.WorkflowAsync(wf);
        Assert.Equal(WorkflowState.Cancelled, view.State);
        Assert.All(view.Jobs!, j => Assert.Equal(WorkRequestState.Cancelled, j.State));
        Assert.Empty(await E.ClaimAsync(await E.WorkerAsync("w1"), 4));
    }
}
