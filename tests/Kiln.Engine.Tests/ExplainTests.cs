using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;
using Kiln.Store.Scheduling;

namespace Kiln.Engine.Tests;

public sealed class ExplainTests : EngineTest
{
    private ExplainStore Explain => new(E.DataSource, E.Time);

    private async Task<ExplainView> ExplainJobAsync(long workflowId, string job)
    {
        var id = (await E.WorkflowAsync(workflowId)).Jobs!.Single(j => j.Name == job).Id;
        return (await Explain.ExplainAsync(id, default))!;
    }

    [Fact]
    public async Task A_blocked_job_names_the_dependencies_it_waits_for()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("compile", []), ("test", ["compile"])));
        var view = await ExplainJobAsync(wf, "test");
        Assert.Equal("waiting-for-dependencies", view.Reasons[0].Code);
        Assert.Contains("'compile' (pending)", view.Summary);
    }

    [Fact]
    public async Task A_job_for_an_architecture_no_connected_worker_has_says_so()
    {
        await E.WorkerAsync("amd-only", ["amd64"]);
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = new() { ["build"] = new JobDocument { Run = "x", Requires = new JobRequirements { Architecture = "riscv64" } } },
        });
        var view = await ExplainJobAsync(wf, "build");
        Assert.Equal("no-worker-for-architecture", view.Reasons[0].Code);
        Assert.Contains("riscv64", view.Summary);
        Assert.Contains("amd64", view.Summary);
    }

    [Fact]
    public async Task A_job_needing_a_tag_nobody_offers_names_the_tag()
    {
        await E.WorkerAsync("plain", tags: ["big-disk"]);
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = new() { ["vm-test"] = new JobDocument { Run = "x", Requires = new JobRequirements { Tags = ["kvm", "big-disk"] } } },
        });
        var view = await ExplainJobAsync(wf, "vm-test");
        Assert.Equal("no-worker-for-tags", view.Reasons[0].Code);
        Assert.Contains("kvm", view.Summary);
        Assert.DoesNotContain("big-disk", view.Summary);
    }

    [Fact]
    public async Task A_job_of_a_capped_project_says_the_project_is_at_its_cap()
    {
        await new ProjectStore(E.DataSource, E.Time).PutAsync("capped", new ProjectSettings(1, 0, 1), default);
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", [])) with { Project = "capped" });
        var worker = await E.WorkerAsync("w1");
        var running = await E.ClaimOneAsync(worker);
        var waiting = (await E.WorkflowAsync(wf)).Jobs!.Single(j => j.Id != running.WorkRequestId);
        var view = (await Explain.ExplainAsync(waiting.Id, default))!;
        Assert.Equal("project-at-cap", view.Reasons[0].Code);
        Assert.Contains("cap of 1", view.Summary);
    }

    [Fact]
    public async Task A_queued_job_tells_its_position_and_that_slots_are_busy()
    {
        var worker = await E.WorkerAsync("w1");
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", []), ("c", []), ("d", []), ("e", []), ("f", [])));
        await E.ClaimAsync(worker, 4);
        var waiting = (await E.WorkflowAsync(wf)).Jobs!.Where(j => j.State == "pending").OrderBy(j => j.Id).Last();
        var view = (await Explain.ExplainAsync(waiting.Id, default))!;
        Assert.Contains(view.Reasons, r => r.Code == "position" && r.Message.StartsWith("1 work request", StringComparison.Ordinal));
        Assert.Equal("slots", view.Reasons[0].Code);
        Assert.Contains("busy", view.Summary);
    }

    [Fact]
    public async Task A_skipped_job_names_the_dependency_that_failed_and_how_to_retry()
    {
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", ["a"])));
        var a = await E.ClaimOneAsync(await E.WorkerAsync("w1"));
        await E.CompleteAsync(a, AttemptEnd.Failed, 1);
        var view = await ExplainJobAsync(wf, "b");
        Assert.Equal("dependency-failed", view.Reasons[0].Code);
        Assert.Contains($"kiln retry wr:{a.WorkRequestId}", view.Summary);
    }

    // Combined situations: free slots promise a start only when nothing else holds the job back.

    [Fact]
    public async Task Free_slots_with_work_ahead_say_the_work_ahead_takes_them_not_that_it_starts_soon()
    {
        await E.WorkerAsync("w1"); // 4 slots, all free
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", []), ("c", []), ("d", []), ("e", []), ("f", [])));
        var view = await ExplainJobAsync(wf, "f");
        Assert.Equal("position", view.Reasons[0].Code);
        Assert.StartsWith("5 work request(s)", view.Summary, StringComparison.Ordinal);
        Assert.All(view.Reasons, r => Assert.DoesNotContain("within seconds", r.Message, StringComparison.Ordinal));
        Assert.Contains(view.Reasons, r => r.Code == "slots" && r.Message.Contains("will take them first", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Free_slots_and_nothing_ahead_say_it_starts_within_seconds()
    {
        await E.WorkerAsync("w1");
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", [])));
        var view = await ExplainJobAsync(wf, "b");
        Assert.Contains(view.Reasons, r => r.Code == "slots" && r.Message.EndsWith("it should start within seconds", StringComparison.Ordinal));
        Assert.DoesNotContain(view.Reasons, r => r.Message.Contains("served first", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Free_slots_of_a_capped_project_do_not_promise_a_start()
    {
        await new ProjectStore(E.DataSource, E.Time).PutAsync("capped2", new ProjectSettings(1, 0, 1), default);
        var wf = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", [])) with { Project = "capped2" });
        var worker = await E.WorkerAsync("w1");
        var running = await E.ClaimOneAsync(worker);
        var waiting = (await E.WorkflowAsync(wf)).Jobs!.Single(j => j.Id != running.WorkRequestId);
        var view = (await Explain.ExplainAsync(waiting.Id, default))!;
        Assert.Equal("project-at-cap", view.Reasons[0].Code);
        Assert.All(view.Reasons, r => Assert.DoesNotContain("within seconds", r.Message, StringComparison.Ordinal));
        Assert.Contains(view.Reasons, r => r.Code == "slots" && r.Message.Contains("its project is at its cap", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Free_slots_during_a_retry_backoff_do_not_promise_a_start()
    {
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = new() { ["flaky"] = new JobDocument { Run = "x", Retry = new RetryPolicyDocument { MaxAttempts = 3, OnFailure = true, BackoffSeconds = 600 } } },
        });
        var worker = await E.WorkerAsync("w1");
        await E.CompleteAsync(await E.ClaimOneAsync(worker), AttemptEnd.Failed, 1);
        var view = await ExplainJobAsync(wf, "flaky");
        Assert.Equal("retry-backoff", view.Reasons[0].Code);
        Assert.All(view.Reasons, r => Assert.DoesNotContain("within seconds", r.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Free_slots_while_another_project_is_served_first_do_not_promise_a_start()
    {
        var worker = await E.WorkerAsync("w1");
        var mine = await E.SubmitAsync(EngineFixture.Doc(("a", []), ("b", [])) with { Project = "busy" });
        await E.ClaimOneAsync(worker); // "busy" now runs one job, so an idle project with waiting work is further below its share
        await E.SubmitAsync(EngineFixture.Doc(("x", [])) with { Project = "idle" });
        var view = await ExplainJobAsync(mine, (await E.WorkflowAsync(mine)).Jobs!.Single(j => j.State == "pending").Name);
        Assert.Contains(view.Reasons, r => r.Code == "fair-share" && r.Message.Contains("served first", StringComparison.Ordinal));
        Assert.All(view.Reasons, r => Assert.DoesNotContain("within seconds", r.Message, StringComparison.Ordinal));
    }
}
