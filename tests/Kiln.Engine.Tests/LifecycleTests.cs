using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;

namespace Kiln.Engine.Tests;

public sealed class LifecycleTests : EngineTest
{
    [Fact]
    public async Task Dependents_become_pending_only_when_every_dependency_succeeded()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", []), ("c", ["a", "b"])));
        Assert.Equal(WorkRequestState.Blocked, await E.StateOfAsync(wf, "c"));
        var worker = await E.WorkerAsync("w1");

        var first = await E.ClaimAsync(worker, slots: 4);
        Assert.Equal(["a", "b"], first.Select(a => a.Name).Order());
        await E.CompleteAsync(first[0]);
        Assert.Equal(WorkRequestState.Blocked, await E.StateOfAsync(wf, "c"));
        await E.CompleteAsync(first[1]);
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "c"));

        var c = await E.ClaimOneAsync(worker);
        Assert.Equal("c", c.Name);
        Assert.Equal(2, c.NeedsArtifacts.Count);
        await E.CompleteAsync(c);
        var done = await E.WorkflowAsync(wf);
        Assert.Equal(WorkflowState.Succeeded, done.State);
        Assert.Equal(new WorkflowCounts(3, 0, 3, 0, 0, 0), done.Counts);
        Assert.NotNull(done.FinishedAt);
    }

    [Fact]
    public async Task A_failed_task_skips_everything_below_it_and_fails_the_workflow()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", ["a"]), ("c", ["b"]), ("side", [])));
        var worker = await E.WorkerAsync("w1");
        var roots = await E.ClaimAsync(worker, 4);
        var a = roots.Single(x => x.Name == "a");

        var result = await E.CompleteAsync(a, AttemptEnd.Failed, exitCode: 2);

        Assert.Equal(WorkRequestState.Failed, result.Response!.State);
        Assert.Equal(WorkRequestState.Skipped, await E.StateOfAsync(wf, "b"));
        Assert.Equal(WorkRequestState.Skipped, await E.StateOfAsync(wf, "c"));
        Assert.Equal(WorkflowState.Running, (await E.WorkflowAsync(wf)).State);
        await E.CompleteAsync(roots.Single(x => x.Name == "side"));
        var done = await E.WorkflowAsync(wf);
        Assert.Equal(WorkflowState.Failed, done.State);
        Assert.Equal(new WorkflowCounts(4, 0, 1, 1, 2, 0), done.Counts);
    }

    [Fact]
    public async Task A_task_failure_is_not_retried_unless_the_job_asks()
    {
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = new()
            {
                ["plain"] = new JobDocument { Run = "false" },
                ["flaky"] = new JobDocument { Run = "false", Retry = new RetryPolicyDocument { MaxAttempts = 2, OnFailure = true, BackoffSeconds = 0 } },
            },
        });
        var worker = await E.WorkerAsync("w1");
        foreach (var a in await E.ClaimAsync(worker, 2))
        {
            await E.CompleteAsync(a, AttemptEnd.Failed, 1);
        }
        Assert.Equal(WorkRequestState.Failed, await E.StateOfAsync(wf, "plain"));
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "flaky"));

        var again = await E.ClaimOneAsync(worker);
        Assert.Equal(("flaky", 2), (again.Name, again.Attempt));
        await E.CompleteAsync(again, AttemptEnd.Failed, 1);
        Assert.Equal(WorkRequestState.Failed, await E.StateOfAsync(wf, "flaky"));
    }

    [Fact]
    public async Task Infrastructure_errors_retry_with_growing_backoff_until_the_attempt_limit()
    {
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = new() { ["build"] = new JobDocument { Run = "make", Retry = new RetryPolicyDocument { MaxAttempts = 3, BackoffSeconds = 10 } } },
        });
        var worker = await E.WorkerAsync("w1");
        var delays = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var a = await E.ClaimOneAsync(worker);
            Assert.Equal(attempt, a.Attempt);
            var result = await E.Reports.ReportAsync(E.WorkerOf(a), a.WorkRequestId, a.LeaseToken, AttemptEnd.Error, null, "disk full", default);
            if (attempt < 3)
            {
                Assert.Equal(WorkRequestState.Pending, result.Response!.State);
                var view = (await E.Queries.GetWorkRequestAsync(a.WorkRequestId, default))!;
                delays.Add(view.NotBefore!.Value - E.Time.GetUtcNow());
                Assert.Empty(await E.ClaimAsync(worker));
                E.Time.Advance(delays[^1] + TimeSpan.FromMilliseconds(1));
            }
            else
            {
                Assert.Equal(WorkRequestState.Failed, result.Response!.State);
            }
        }
        Assert.InRange(delays[0].TotalSeconds, 8, 12);
        Assert.InRange(delays[1].TotalSeconds, 16, 24);
        var attempts = (await E.Queries.GetWorkRequestAsync((await E.WorkflowAsync(wf)).Jobs![0].Id, default))!.Attempts;
        Assert.Equal([AttemptOutcome.Error, AttemptOutcome.Error, AttemptOutcome.Error], attempts.Select(x => x.Outcome));
    }

    [Fact]
    public async Task Claims_match_architecture_tags_and_queue_in_sql()
    {
        await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = new()
            {
                ["arm"] = new JobDocument { Run = "x", Requires = new JobRequirements { Architecture = "arm64" } },
                ["kvm"] = new JobDocument { Run = "x", Requires = new JobRequirements { Tags = ["kvm"] } },
                ["publish"] = new JobDocument { Run = "x", Requires = new JobRequirements { Queue = "maintenance" } },
                ["any"] = new JobDocument { Run = "x" },
            },
        });
        var amd = await E.WorkerAsync("amd");
        Assert.Equal(["any"], (await E.ClaimAsync(amd, 10)).Select(a => a.Name));
        var armKvm = await E.WorkerAsync("arm-kvm", ["arm64"], ["kvm", "big"]);
        Assert.Equal(["arm", "kvm"], (await E.ClaimAsync(armKvm, 10)).Select(a => a.Name).Order());
        var maintenance = await E.WorkerAsync("maint", queues: ["maintenance"]);
        Assert.Equal(["publish"], (await E.ClaimAsync(maintenance, 10)).Select(a => a.Name));
    }

    [Fact]
    public async Task Completion_is_idempotent_and_fenced_by_the_lease_token()
    {
        await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", ["a"])));
        var worker = await E.WorkerAsync("w1");
        var a = await E.ClaimOneAsync(worker);

        var wrongToken = await E.Reports.ReportAsync(E.WorkerOf(a), a.WorkRequestId, Guid.NewGuid(), AttemptEnd.Succeeded, 0, null, default);
        Assert.Equal(ReportStatus.LeaseNotHeld, wrongToken.Status);

        var first = await E.CompleteAsync(a);
        var repeat = await E.CompleteAsync(a);
        var repeatClaimingFailure = await E.CompleteAsync(a, AttemptEnd.Failed, 1);
        Assert.Equal(ReportStatus.Recorded, first.Status);
        Assert.Equal(ReportStatus.Repeated, repeat.Status);
        Assert.Equal(first.Response, repeat.Response);
        Assert.Equal(first.Response, repeatClaimingFailure.Response);
        Assert.Single((await E.Queries.GetWorkRequestAsync(a.WorkRequestId, default))!.Attempts);
        // b was released exactly once (a second release would have driven unmet_deps negative).
        var b = await E.ClaimOneAsync(worker);
        Assert.Equal("b", b.Name);
    }

    [Fact]
    public async Task A_late_completion_after_lease_expiry_is_refused_and_the_work_runs_again()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", [])));
        var crashed = await E.WorkerAsync("crashed");
        var a = await E.ClaimOneAsync(crashed);

        E.Time.Advance(EngineFixture.Lease + TimeSpan.FromSeconds(1));
        var beforeReap = await E.CompleteAsync(a);
        Assert.Equal(ReportStatus.LeaseExpired, beforeReap.Status);

        Assert.Equal(1, await E.Reaper.ReapExpiredAsync(100, default));
        var afterReap = await E.CompleteAsync(a);
        Assert.Equal(ReportStatus.LeaseExpired, afterReap.Status);
        Assert.Contains("lost", afterReap.Problem);

        E.Time.Advance(TimeSpan.FromMinutes(1));
        var rescuer = await E.WorkerAsync("rescuer");
        var again = await E.ClaimOneAsync(rescuer);
        Assert.Equal((a.WorkRequestId, 2), (again.WorkRequestId, again.Attempt));
        Assert.NotEqual(a.LeaseToken, again.LeaseToken);
        await E.CompleteAsync(again);
        var view = (await E.Queries.GetWorkRequestAsync(a.WorkRequestId, default))!;
        Assert.Equal([AttemptOutcome.Lost, AttemptOutcome.Succeeded], view.Attempts.Select(x => x.Outcome));
        Assert.Equal(["crashed", "rescuer"], view.Attempts.Select(x => x.WorkerName));
        Assert.Equal(WorkflowState.Succeeded, (await E.WorkflowAsync(wf)).State);
    }

    [Fact]
    public async Task Heartbeats_keep_a_lease_alive_and_report_lost_leases()
    {
        await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", [])));
        var worker = await E.WorkerAsync("w1");
        var claimed = await E.ClaimAsync(worker, 2);
        for (var i = 0; i < 10; i++)
        {
            E.Time.Advance(EngineFixture.Lease / 3);
            var statuses = await E.Claims.HeartbeatAsync(worker.Id, [new LeaseRef(claimed[0].WorkRequestId, claimed[0].LeaseToken)], EngineFixture.Lease, default);
            Assert.Equal("ok", Assert.Single(statuses).Status);
        }
        Assert.Equal(1, await E.Reaper.ReapExpiredAsync(100, default));
        var both = await E.Claims.HeartbeatAsync(worker.Id, claimed.Select(c => new LeaseRef(c.WorkRequestId, c.LeaseToken)).ToList(), EngineFixture.Lease, default);
        Assert.Equal(["ok", "lost"], both.OrderBy(s => s.WorkRequestId == claimed[0].WorkRequestId ? 0 : 1).Select(s => s.Status));
    }

    [Fact]
    public async Task An_attempt_past_its_timeout_is_ended_and_retried_even_while_heartbeating()
    {
        await E.SubmitAsync(new WorkflowDocument { Jobs = new() { ["slow"] = new JobDocument { Run = "sleep 1000", Timeout = 60 } } });
        var worker = await E.WorkerAsync("w1");
        var a = await E.ClaimOneAsync(worker);
        for (var i = 0; i < 7; i++)
        {
            E.Time.Advance(TimeSpan.FromSeconds(10));
            await E.Claims.HeartbeatAsync(worker.Id, [new LeaseRef(a.WorkRequestId, a.LeaseToken)], EngineFixture.Lease, default);
        }
        Assert.Equal(1, await E.Reaper.ReapExpiredAsync(100, default));
        var view = (await E.Queries.GetWorkRequestAsync(a.WorkRequestId, default))!;
        Assert.Equal(WorkRequestState.Pending, view.Summary.State);
        Assert.Equal(AttemptOutcome.TimedOut, Assert.Single(view.Attempts).Outcome);
    }

    [Fact]
    public async Task Work_handed_back_unstarted_is_requeued_at_once_without_using_an_attempt()
    {
        await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = new() { ["a"] = new JobDocument { Run = "x", Retry = new RetryPolicyDocument { MaxAttempts = 1 } } },
        });
        var draining = await E.WorkerAsync("draining");
        var first = await E.ClaimOneAsync(draining);

        var released = await E.Reports.ReportAsync(E.WorkerOf(first), first.WorkRequestId, first.LeaseToken, AttemptEnd.Released, null, "draining", default);
        var repeated = await E.Reports.ReportAsync(E.WorkerOf(first), first.WorkRequestId, first.LeaseToken, AttemptEnd.Released, null, "draining", default);

        Assert.Equal(WorkRequestState.Pending, released.Response!.State);
        Assert.Equal(ReportStatus.Repeated, repeated.Status);
        // No backoff for a hand-back, and the single allowed attempt is still there to use.
        var second = await E.ClaimOneAsync(await E.WorkerAsync("other"));
        var failed = await E.Reports.ReportAsync(E.WorkerOf(second), second.WorkRequestId, second.LeaseToken, AttemptEnd.Error, null, "disk", default);
        Assert.Equal(WorkRequestState.Failed, failed.Response!.State);
        var attempts = (await E.Queries.GetWorkRequestAsync(first.WorkRequestId, default))!.Attempts;
        Assert.Equal([AttemptOutcome.Released, AttemptOutcome.Error], attempts.Select(a => a.Outcome));
    }
}
