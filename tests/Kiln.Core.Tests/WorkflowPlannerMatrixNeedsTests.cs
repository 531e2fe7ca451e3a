using Kiln.Contracts;
using Kiln.Core;
using static Kiln.Core.Tests.Planning;

namespace Kiln.Core.Tests;

/// <summary>Matrix-aware needs: corresponding entries for the same axes, <c>JOB[*]</c> for all of them.</summary>
public sealed class WorkflowPlannerMatrixNeedsTests
{
    private static JobDocument ByArch(params string[] needs) =>
        new() { Run = "make", Needs = needs.Length == 0 ? null : [.. needs], Matrix = new() { ["arch"] = ["amd64", "arm64"] } };

    [Fact]
    public void A_matrix_job_with_the_same_axes_waits_for_its_corresponding_entry_only()
    {
        var plan = Accept(Workflow(("build", ByArch()), ("test", ByArch("build"))));

        Assert.Equal(["build[amd64]"], NeedNames(plan, "test[amd64]"));
        Assert.Equal(["build[arm64]"], NeedNames(plan, "test[arm64]"));
        Assert.Equal(2, plan.EdgeCount);
    }

    [Fact]
    public void Axes_are_matched_by_name_whatever_their_order()
    {
        var build = new JobDocument { Run = "make", Matrix = new() { ["arch"] = ["amd64", "arm64"], ["suite"] = ["sid", "trixie"] } };
        var test = new JobDocument { Run = "make", Needs = ["build"], Matrix = new() { ["suite"] = ["trixie", "sid"], ["arch"] = ["arm64", "amd64"] } };

        var plan = Accept(Workflow(("build", build), ("test", test)));

        Assert.Equal(["build[arm64,sid]"], NeedNames(plan, "test[sid,arm64]"));
    }

    [Fact]
    public void The_star_form_waits_for_every_entry()
    {
        var plan = Accept(Workflow(("build", ByArch()), ("test", ByArch("build[*]"))));

        Assert.Equal(["build[amd64]", "build[arm64]"], NeedNames(plan, "test[amd64]"));
        Assert.Equal(4, plan.EdgeCount);
    }

    [Fact]
    public void Jobs_whose_axes_differ_wait_for_every_entry_as_before()
    {
        var test = new JobDocument { Run = "make", Needs = ["build"], Matrix = new() { ["shard"] = ["1", "2"] } };
        var publish = Job("build");

        var plan = Accept(Workflow(("build", ByArch()), ("test", test), ("publish", publish)));

        Assert.Equal(["build[amd64]", "build[arm64]"], NeedNames(plan, "test[1]"));
        Assert.Equal(["build[amd64]", "build[arm64]"], NeedNames(plan, "publish"));
    }

    [Fact]
    public void An_entry_without_a_counterpart_is_refused_with_the_ways_out()
    {
        var build = ByArch() with { Matrix = new() { ["arch"] = ["amd64", "arm64"], Exclude = [new() { ["arch"] = "arm64" }] } };

        var error = ErrorOn(Reject(Workflow(("build", build), ("test", ByArch("build")))), "jobs.test.needs[0]");

        Assert.Contains("test[arm64] has no corresponding entry in 'build'", error.Message);
        Assert.Contains("build[*]", error.Message);
    }

    [Fact]
    public void The_star_form_of_an_unknown_job_is_refused()
    {
        ErrorOn(Reject(Workflow(("test", Job("nothing[*]")))), "jobs.test.needs[0]");
        Assert.Contains("JOB[*]", ErrorOn(Reject(Workflow(("build", ByArch()), ("test", Job("build[amd64]")))), "jobs.test.needs[0]").Message);
    }

    [Fact]
    public void The_edge_bound_counts_corresponding_and_star_needs_alike()
    {
        var values = Enumerable.Range(0, 100).Select(i => $"v{i}").ToList();
        JobDocument Wide(params string[] needs) => new() { Run = "make", Needs = [.. needs], Matrix = new() { ["n"] = values } };
        var limits = WorkflowLimits.Default with { MaxEdges = 500 };

        // 1:1 is 100 edges: accepted.
        Accept(Workflow(("build", Wide()), ("test", Wide("build"))), limits);
        // All-to-all is 10,000: refused before a single edge list is built.
        ErrorOn(Reject(Workflow(("build", Wide()), ("test", Wide("build[*]"))), limits), "jobs");
    }

    [Fact]
    public void A_cycle_through_the_star_form_is_still_a_cycle()
    {
        ErrorOn(Reject(Workflow(("a", Job("b[*]")), ("b", Job("a")))), "jobs");
    }
}
