using Kiln.Contracts;

namespace Kiln.Core.Tests;

public sealed class PriorityTests
{
    private static readonly WorkflowPlanner Planner = new();

    [Fact]
    public void Effective_priority_adds_workflow_job_and_trigger_class()
    {
        var (plan, errors) = Planner.Plan(new WorkflowDocument
        {
            Trigger = "pull-request",
            Priority = 5,
            Jobs = new() { ["a"] = new JobDocument { Run = "x", Priority = -2 } },
        });
        Assert.Empty(errors);
        Assert.Equal(20 + 5 - 2, plan!.WorkRequests[0].Priority);
        Assert.Equal("pull-request", plan.Trigger);
    }

    [Fact]
    public void Manual_work_outranks_pushes_which_outrank_mass_rebuilds()
    {
        var order = FairShare.TriggerPriority.OrderByDescending(t => t.Value).Select(t => t.Key).ToList();
        Assert.True(order.IndexOf("manual") < order.IndexOf("push"));
        Assert.True(order.IndexOf("push") < order.IndexOf("mass-rebuild"));
    }

    [Fact]
    public void An_unknown_trigger_is_rejected_naming_the_choices()
    {
        var (_, errors) = Planner.Plan(new WorkflowDocument { Trigger = "tuesday", Jobs = new() { ["a"] = new JobDocument { Run = "x" } } });
        var error = Assert.Single(errors);
        Assert.Equal("trigger", error.Field);
        Assert.Contains("mass-rebuild", error.Message);
    }

    [Fact]
    public void Aging_lets_old_low_priority_work_overtake_new_high_priority_work_after_the_stated_bound()
    {
        var t0 = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var oldLow = FairShare.ClaimRank(priority: -20, t0);
        var boundSeconds = (30 - -20) * FairShare.AgingSecondsPerPoint;
        Assert.True(FairShare.ClaimRank(30, t0.AddSeconds(boundSeconds - 60)) > oldLow, "new manual work within the bound should still go first");
        Assert.True(FairShare.ClaimRank(30, t0.AddSeconds(boundSeconds + 60)) < oldLow, "after the bound, the old work must go first");
    }

    [Fact]
    public void Among_equal_priorities_the_older_work_ranks_first()
    {
        var t0 = DateTimeOffset.UnixEpoch.AddYears(56);
        Assert.True(FairShare.ClaimRank(0, t0) > FairShare.ClaimRank(0, t0.AddMilliseconds(1)));
    }
}
