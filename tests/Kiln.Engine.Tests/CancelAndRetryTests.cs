using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;

namespace Kiln.Engine.Tests;

public sealed class CancelAndRetryTests : EngineTest
{
    [Fact]
    public async Task Cancelling_a_workflow_cancels_waiting_work_and_marks_running_work_for_its_worker()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", ["a"]), ("c", [])));
        var worker = await E.WorkerAsync("w1");
        var a = (await E.ClaimAsync(worker, 1)).Single();

        var result = await E.Actions.CancelWorkflowAsync(wf, default);

        Assert.Equal(ActionStatus.Done, result.Status);
        Assert.Equal(WorkRequestState.Running, await E.StateOfAsync(wf, a.Name));
        var heartbeat = await E.Claims.HeartbeatAsync(worker.Id, [new LeaseRef(a.WorkRequestId, a.LeaseToken)], EngineFixture.Lease, default);
        Assert.Equal("cancel", Assert.Single(heartbeat).Status);
        Assert.Empty(await E.ClaimAsync(worker, 4));

        var reported = await E.CompleteAsync(a, AttemptEnd.Cancelled, exitCode: null);
        Assert.Equal(WorkRequestState.Cancelled, reported.Response!.State);
        var view = await E.WorkflowAsync(wf);
        Assert.Equal(WorkflowState.Cancelled, view.State);
        Assert.All(view.Jobs!, j => Assert.Equal(WorkRequestState.Cancelled, j.State));
    }

    [Fact]
    public async Task A_running_job_marked_for_cancel_is_cancelled_not_retried_when_its_worker_vanishes()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", [])));
        var a = await E.ClaimOneAsync(await E.WorkerAsync("w1"));
        await E.Actions.CancelWorkRequestAsync(a.WorkRequestId, default);
        E.Time.Advance(EngineFixture.Lease * 2);
        await E.Reaper.ReapExpiredAsync(100, default);
        Assert.Equal(WorkflowState.Cancelled, (await E.WorkflowAsync(wf)).State);
    }

    [Fact]
    public async Task Cancelling_a_waiting_job_skips_its_dependents_only()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", ["a"]), ("c", ["b"]), ("d", [])));
        var b = (await E.WorkflowAsync(wf)).Jobs!.Single(j => j.Name == "b");
        var result = await E.Actions.CancelWorkRequestAsync(b.Id, default);
        Assert.Equal(2, result.Response.Affected);
        Assert.Equal(WorkRequestState.Cancelled, await E.StateOfAsync(wf, "b"));
        Assert.Equal(WorkRequestState.Skipped, await E.StateOfAsync(wf, "c"));
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "a"));
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "d"));
    }

    [Fact]
    public async Task Retrying_a_failed_workflow_reruns_the_failed_and_skipped_part_and_keeps_what_succeeded()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("prep", []), ("build", ["prep"]), ("test", ["build"]), ("docs", ["prep"])));
        var worker = await E.WorkerAsync("w1");
        await E.CompleteAsync(await E.ClaimOneAsync(worker));                       // prep
        var firstRound = await E.ClaimAsync(worker, 2);                              // build, docs
        await E.CompleteAsync(firstRound.Single(x => x.Name == "build"), AttemptEnd.Failed, 1);
        await E.CompleteAsync(firstRound.Single(x => x.Name == "docs"));
        Assert.Equal(WorkflowState.Failed, (await E.WorkflowAsync(wf)).State);

        var retry = await E.Actions.RetryWorkflowAsync(wf, default);

        Assert.Equal(2, retry.Response.Affected);
        var view = await E.WorkflowAsync(wf);
        Assert.Equal(WorkflowState.Running, view.State);
        Assert.Equal(new WorkflowCounts(4, 2, 2, 0, 0, 0), view.Counts);
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "build"));
        Assert.Equal(WorkRequestState.Blocked, await E.StateOfAsync(wf, "test"));
        var build = await E.ClaimOneAsync(worker);
        Assert.Equal(("build", 2), (build.Name, build.Attempt));
        await E.CompleteAsync(build);
        await E.CompleteAsync(await E.ClaimOneAsync(worker));
        var done = await E.WorkflowAsync(wf);
        Assert.Equal(WorkflowState.Succeeded, done.State);
        var prep = (await E.Queries.GetWorkRequestAsync(done.Jobs!.Single(j => j.Name == "prep").Id, default))!;
        Assert.Single(prep.Attempts);
    }

    [Fact]
    public async Task Retrying_one_job_refuses_while_a_dependency_stays_failed()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", ["a"])));
        await E.CompleteAsync(await E.ClaimOneAsync(await E.WorkerAsync("w1")), AttemptEnd.Failed, 1);
        var b = (await E.WorkflowAsync(wf)).Jobs!.Single(j => j.Name == "b");

        var refused = await E.Actions.RetryWorkRequestAsync(b.Id, default);
        Assert.Equal(ActionStatus.Conflict, refused.Status);
        Assert.Contains("'a'", refused.Response.Message);

        var a = (await E.WorkflowAsync(wf)).Jobs!.Single(j => j.Name == "a");
        var retried = await E.Actions.RetryWorkRequestAsync(a.Id, default);
        Assert.Equal(2, retried.Response.Affected);
        Assert.Equal(WorkRequestState.Blocked, await E.StateOfAsync(wf, "b"));
    }

    [Fact]
    public async Task A_manual_retry_gives_a_fresh_attempt_budget()
    {
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = new() { ["x"] = new JobDocument { Run = "x", Retry = new RetryPolicyDocument { MaxAttempts = 1 } } },
        });
        var worker = await E.WorkerAsync("w1");
        var first = await E.ClaimOneAsync(worker);
        await E.Reports.ReportAsync(E.WorkerOf(first), first.WorkRequestId, first.LeaseToken, AttemptEnd.Error, null, "oops", default);
        Assert.Equal(WorkflowState.Failed, (await E.WorkflowAsync(wf)).State);
        await E.Actions.RetryWorkflowAsync(wf, default);
        var second = await E.ClaimOneAsync(worker);
        var result = await E.Reports.ReportAsync(E.WorkerOf(second), second.WorkRequestId, second.LeaseToken, AttemptEnd.Error, null, "oops", default);
        Assert.Equal(WorkRequestState.Failed, result.Response!.State);
        Assert.Equal(2, second.Attempt);
    }

    [Fact]
    public async Task Cancel_and_retry_of_unknown_ids_say_not_found()
    {
        Assert.Equal(ActionStatus.NotFound, (await E.Actions.CancelWorkflowAsync(999, default)).Status);
        Assert.Equal(ActionStatus.NotFound, (await E.Actions.RetryWorkRequestAsync(999, default)).Status);
    }
}
