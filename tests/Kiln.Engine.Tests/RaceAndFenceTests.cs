using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// The interleavings of issue 9, forced with a second session that holds a lock while the
/// engine's transitions queue behind it: each test fails if a transition decides on what it
/// read before its lock.
/// </summary>
public sealed class RaceAndFenceTests : EngineTest
{
    [Fact]
    public async Task A_worker_presenting_another_workers_token_is_refused_and_the_attempt_is_untouched()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", [])));
        var owner = await E.WorkerAsync("owner");
        var thief = await E.WorkerAsync("thief");
        var a = await E.ClaimOneAsync(owner);
        E.Time.Advance(EngineFixture.Lease * 0.75);

        foreach (var end in new[] { AttemptEnd.Succeeded, AttemptEnd.Failed, AttemptEnd.Error, AttemptEnd.Released })
        {
            Assert.Equal(ReportStatus.LeaseNotHeld, (await E.Reports.ReportAsync(thief.Id, a.WorkRequestId, a.LeaseToken, end, 0, "x", default)).Status);
        }
        var batch = await E.Reports.CompleteSucceededAsync([new SuccessReport(thief.Id, a.WorkRequestId, a.LeaseToken, 0, null)], default);
        Assert.Equal(ReportStatus.LeaseNotHeld, Assert.Single(batch).Status);
        var renewal = await E.Claims.HeartbeatAsync(thief.Id, [new LeaseRef(a.WorkRequestId, a.LeaseToken)], EngineFixture.Lease, default);
        Assert.Equal("lost", Assert.Single(renewal).Status);

        Assert.Equal(WorkRequestState.Running, await E.StateOfAsync(wf, "a"));
        var view = (await E.Queries.GetWorkRequestAsync(a.WorkRequestId, default))!;
        Assert.Empty(view.Attempts);
        var own = await E.Claims.HeartbeatAsync(owner.Id, [new LeaseRef(a.WorkRequestId, a.LeaseToken)], EngineFixture.Lease, default);
        Assert.Equal("ok", Assert.Single(own).Status);
        Assert.Equal(E.Time.GetUtcNow() + EngineFixture.Lease, Assert.Single(own).LeaseExpiresAt);
        Assert.Equal(ReportStatus.Recorded, (await E.CompleteAsync(a)).Status);
    }

    [Fact]
    public async Task A_repeated_report_returns_the_state_it_led_to_when_recorded_not_the_current_one()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", [])));
        var worker = await E.WorkerAsync("w1");
        var first = await E.ClaimOneAsync(worker);
        var recorded = await E.Reports.ReportAsync(worker.Id, first.WorkRequestId, first.LeaseToken, AttemptEnd.Error, null, "disk", default);
        Assert.Equal(WorkRequestState.Pending, recorded.Response!.State);
        E.Time.Advance(TimeSpan.FromHours(1));
        await E.ClaimOneAsync(worker);

        var repeated = await E.Reports.ReportAsync(worker.Id, first.WorkRequestId, first.LeaseToken, AttemptEnd.Error, null, "disk", default);

        Assert.Equal(ReportStatus.Repeated, repeated.Status);
        Assert.Equal(recorded.Response, repeated.Response);
        Assert.Equal(WorkRequestState.Running, await E.StateOfAsync(wf, "a"));
    }

    [Fact]
    public async Task A_retry_that_waits_on_a_completion_in_flight_counts_it_and_the_workflow_finishes()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", [])));
        var worker = await E.WorkerAsync("w1");
        var claimed = await E.ClaimAsync(worker, 2);
        await E.CompleteAsync(claimed.Single(x => x.Name == "a"), AttemptEnd.Failed, 1);
        var b = claimed.Single(x => x.Name == "b");

        // A completion of b holds the workflow row, uncommitted (as the completion statement does), while the retry starts.
        await using var completion = await E.DataSource.OpenConnectionAsync();
        await using var tx = await completion.BeginTransactionAsync();
        await ExecAsync(completion, $"UPDATE work_requests SET state = 'succeeded', lease_token = NULL, finished_at = now() WHERE id = {b.WorkRequestId}");
        await ExecAsync(completion, $"UPDATE workflows SET unfinished = unfinished - 1, succeeded = succeeded + 1 WHERE id = {wf}");
        var retry = Task.Run(() => E.Actions.RetryWorkflowAsync(wf, default));
        await WaitUntilWaitingAsync(1);
        await tx.CommitAsync();
        Assert.Equal(ActionStatus.Done, (await retry).Status);

        await E.CompleteAsync(await E.ClaimOneAsync(worker));
        var view = await E.WorkflowAsync(wf);
        Assert.Equal((WorkflowState.Succeeded, new WorkflowCounts(2, 0, 2, 0, 0, 0)), (view.State, view.Counts));
    }

    [Fact]
    public async Task A_dependent_retried_while_its_dependency_fails_is_skipped_not_left_blocked()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("p", []), ("d", ["p"])));
        var worker = await E.WorkerAsync("w1");
        var p = await E.ClaimOneAsync(worker);
        var d = (await E.WorkflowAsync(wf)).Jobs!.Single(j => j.Name == "d").Id;
        await E.Actions.CancelWorkRequestAsync(d, default);

        // p's failure is held up at p's row; meanwhile d is retried (reopened, blocked on p).
        await using var blocker = await E.DataSource.OpenConnectionAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await ExecAsync(blocker, $"SELECT 1 FROM work_requests WHERE id = {p.WorkRequestId} FOR UPDATE");
        var failure = Task.Run(() => E.CompleteAsync(p, AttemptEnd.Failed, 1));
        await WaitUntilWaitingAsync(1);
        Assert.Equal(ActionStatus.Done, (await E.Actions.RetryWorkRequestAsync(d, default)).Status);
        await tx.CommitAsync();
        await failure;

        var view = await E.WorkflowAsync(wf);
        Assert.Equal(WorkRequestState.Skipped, await E.StateOfAsync(wf, "d"));
        Assert.Equal((WorkflowState.Failed, new WorkflowCounts(2, 0, 0, 1, 1, 0)), (view.State, view.Counts));
    }

    [Fact]
    public async Task A_cancel_queued_behind_a_requeue_cancels_the_requeued_work_and_nothing_claims_it()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", [])));
        var worker = await E.WorkerAsync("w1");
        var a = await E.ClaimOneAsync(worker);

        await using var blocker = await E.DataSource.OpenConnectionAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await ExecAsync(blocker, $"SELECT 1 FROM work_requests WHERE id = {a.WorkRequestId} FOR UPDATE");
        var requeue = Task.Run(() => E.Reports.ReportAsync(E.WorkerOf(a), a.WorkRequestId, a.LeaseToken, AttemptEnd.Error, null, "disk", default));
        await WaitUntilWaitingAsync(1);
        var cancel = Task.Run(() => E.Actions.CancelWorkRequestAsync(a.WorkRequestId, default));
        await WaitUntilWaitingAsync(2);
        await tx.CommitAsync();
        Assert.Equal(WorkRequestState.Pending, (await requeue).Response!.State);
        Assert.Equal(ActionStatus.Done, (await cancel).Status);

        Assert.Equal(WorkRequestState.Cancelled, await E.StateOfAsync(wf, "a"));
        E.Time.Advance(TimeSpan.FromHours(1));
        Assert.Empty(await E.ClaimAsync(worker, 4));
        Assert.Equal(WorkflowState.Cancelled, (await E.WorkflowAsync(wf)).State);
    }

    [Fact]
    public async Task A_workflow_cancel_also_cancels_a_row_a_retry_reopened_after_the_cancel_started_locking()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("u", []), ("r", [])));
        var worker = await E.WorkerAsync("w1");
        var claimed = await E.ClaimAsync(worker, 2);
        var u = claimed.Single(x => x.Name == "u");
        var r = claimed.Single(x => x.Name == "r");
        Assert.True(u.WorkRequestId < r.WorkRequestId);
        await E.CompleteAsync(r, AttemptEnd.Failed, 1);
        await E.Reports.ReportAsync(E.WorkerOf(u), u.WorkRequestId, u.LeaseToken, AttemptEnd.Error, null, "disk", default);

        // The cancel's lock statement takes its snapshot (r failed), then waits at u, the lower id;
        // meanwhile a retry reopens r and commits.
        await using var blocker = await E.DataSource.OpenConnectionAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await ExecAsync(blocker, $"SELECT 1 FROM work_requests WHERE id = {u.WorkRequestId} FOR UPDATE");
        var cancel = Task.Run(() => E.Actions.CancelWorkflowAsync(wf, default));
        await WaitUntilWaitingAsync(1);
        Assert.Equal(ActionStatus.Done, (await E.Actions.RetryWorkRequestAsync(r.WorkRequestId, default)).Status);
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "r"));
        await tx.CommitAsync();
        var result = await cancel;

        Assert.Equal((ActionStatus.Done, 2), (result.Status, result.Response.Affected));
        Assert.Equal(WorkRequestState.Cancelled, await E.StateOfAsync(wf, "r"));
        E.Time.Advance(TimeSpan.FromHours(1));
        Assert.Empty(await E.ClaimAsync(worker, 4));
        var view = await E.WorkflowAsync(wf);
        Assert.Equal((WorkflowState.Cancelled, new WorkflowCounts(2, 0, 0, 0, 0, 2)), (view.State, view.Counts));
    }

    [Fact]
    public async Task A_report_message_holding_U0000_does_not_fail_the_batch_it_joins()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", []), ("c", [])));
        var worker = await E.WorkerAsync("w1");
        var claimed = await E.ClaimAsync(worker, 3);
        await using var batcher = new CompletionBatcher(E.Reports);

        var results = await batcher.ReportManyAsync(worker.Id,
            [.. claimed.Select((a, i) => new AttemptReport(a.WorkRequestId, a.LeaseToken, AttemptEnd.Succeeded, 0, i == 1 ? "bad\0byte" : null))], default);

        Assert.All(results, r => Assert.Equal(ReportStatus.Recorded, r.Status));
        Assert.Equal(WorkflowState.Succeeded, (await E.WorkflowAsync(wf)).State);
    }

    private static async Task ExecAsync(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Waits (no deadline: the test's own timeout applies) until <paramref name="n"/> sessions wait on a lock.</summary>
    private async Task WaitUntilWaitingAsync(int n)
    {
        await using var cmd = E.DataSource.CreateCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
        while ((long)(await cmd.ExecuteScalarAsync())! < n)
        {
            await Task.Delay(10);
        }
    }
}
