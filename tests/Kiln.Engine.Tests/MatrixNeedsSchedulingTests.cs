using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;

namespace Kiln.Engine.Tests;

/// <summary>The 1:1 matrix fan-out and if-omitted jobs, as stored and scheduled.</summary>
public sealed class MatrixNeedsSchedulingTests : EngineTest
{
    private static JobDocument ByArch(string run, params string[] needs) =>
        new() { Run = run, Needs = needs.Length == 0 ? null : [.. needs], Matrix = new() { ["arch"] = ["amd64", "arm64"] } };

    [Fact]
    public async Task Test_for_one_architecture_starts_when_its_own_build_succeeded_not_the_others()
    {
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = new() { ["build"] = ByArch("make"), ["test"] = ByArch("make check", "build"), ["publish"] = new() { Run = "publish", Needs = ["test[*]"] } },
        });
        var worker = await E.WorkerAsync("w1");

        var builds = await E.ClaimAsync(worker, slots: 4);
        Assert.Equal(["build[amd64]", "build[arm64]"], builds.Select(a => a.Name).Order());
        await E.CompleteAsync(builds.Single(b => b.Name == "build[amd64]"));

        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "test[amd64]"));
        Assert.Equal(WorkRequestState.Blocked, await E.StateOfAsync(wf, "test[arm64]"));
        var test = await E.ClaimOneAsync(worker);
        Assert.Equal("test[amd64]", test.Name);
        await E.CompleteAsync(test);
        Assert.Equal(WorkRequestState.Blocked, await E.StateOfAsync(wf, "publish"));
    }

    [Fact]
    public async Task A_failed_build_skips_only_its_own_test()
    {
        var wf = await E.SubmitAsync(new WorkflowDocument { Jobs = new() { ["build"] = ByArch("make"), ["test"] = ByArch("make check", "build") } });
        var worker = await E.WorkerAsync("w1");

        var builds = await E.ClaimAsync(worker, slots: 4);
        await E.CompleteAsync(builds.Single(b => b.Name == "build[arm64]"), AttemptEnd.Failed, 1);
        await E.CompleteAsync(builds.Single(b => b.Name == "build[amd64]"));

        Assert.Equal(WorkRequestState.Skipped, await E.StateOfAsync(wf, "test[arm64]"));
        Assert.Equal(WorkRequestState.Pending, await E.StateOfAsync(wf, "test[amd64]"));
    }

    [Fact]
    public async Task A_dependent_of_an_omitted_job_waits_for_what_the_omitted_job_waited_for()
    {
        var wf = await E.SubmitAsync(new WorkflowDocument
        {
            Trigger = "pull-request",
            Jobs = new()
            {
                ["build"] = new() { Run = "make" },
                ["lintian"] = new() { Run = "lintian", Needs = ["build"], If = "trigger != 'pull-request'" },
                ["report"] = new() { Run = "report", Needs = ["lintian"] },
            },
        });
        var view = await E.WorkflowAsync(wf);
        Assert.Equal(["build", "report"], view.Jobs!.Select(j => j.Name).Order());

        var worker = await E.WorkerAsync("w1");
        await E.CompleteAsync(await E.ClaimOneAsync(worker));
        Assert.Equal("report", (await E.ClaimOneAsync(worker)).Name);
    }
}
