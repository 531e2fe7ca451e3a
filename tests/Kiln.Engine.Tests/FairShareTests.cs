using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;
using Kiln.Store.Scheduling;

namespace Kiln.Engine.Tests;

public sealed class FairShareTests : EngineTest
{
    private ProjectStore Projects => new(E.DataSource, E.Time);

    private static WorkflowDocument Many(string project, int count, string queue = "builds", string trigger = "push") => new()
    {
        Project = project,
        Trigger = trigger,
        Jobs = Enumerable.Range(0, count).ToDictionary(i => $"j{i}", _ => new JobDocument { Run = "true", Requires = new JobRequirements { Queue = queue } }),
    };

    [Fact]
    public async Task One_job_of_another_project_starts_in_the_next_freed_slot_behind_ten_thousand()
    {
        await E.SubmitAsync(Many("mass", 10_000, trigger: "mass-rebuild"));
        var worker = await E.WorkerAsync("w1");
        var busy = await E.ClaimAsync(worker, 4);
        Assert.Equal(4, busy.Count);

        var lone = await E.SubmitAsync(Many("small", 1));
        await E.CompleteAsync(busy[0]);
        var next = await E.ClaimOneAsync(worker);

        Assert.Equal(lone, next.WorkflowId);
    }

    [Fact]
    public async Task With_weights_three_to_one_and_both_saturated_running_shares_hold_three_to_one()
    {
        await Projects.PutAsync("big", new ProjectSettings(3, 0, null), default);
        await Projects.PutAsync("small", new ProjectSettings(1, 0, null), default);
        var wfBig = await E.SubmitAsync(Many("big", 600));
        await E.SubmitAsync(Many("small", 600));
        var worker = await E.WorkerAsync("w1");
        var running = (await E.ClaimAsync(worker, 8)).ToList();
        var random = new Random(3);
        var samples = new List<int>();
        for (var step = 0; step < 300; step++)
        {
            var done = running[random.Next(running.Count)];
            running.Remove(done);
            await E.CompleteAsync(done);
            running.Add(await E.ClaimOneAsync(worker));
            samples.Add(running.Count(a => a.WorkflowId == wfBig));
        }
        // Tolerance: within one slot of the weighted share (6 of 8) at every step.
        Assert.All(samples, bigRunning => Assert.InRange(bigRunning, 5, 7));
        Assert.InRange(samples.Average() / 8, 0.70, 0.80);
    }

    [Fact]
    public async Task A_project_at_its_cap_gets_no_more_slots_and_others_take_them()
    {
        await Projects.PutAsync("capped", new ProjectSettings(10, 0, 2), default);
        var capped = await E.SubmitAsync(Many("capped", 50));
        var other = await E.SubmitAsync(Many("other", 50));
        var worker = await E.WorkerAsync("w1");

        var claimed = await E.ClaimAsync(worker, 10);

        Assert.Equal(2, claimed.Count(a => a.WorkflowId == capped));
        Assert.Equal(8, claimed.Count(a => a.WorkflowId == other));
        Assert.DoesNotContain(await E.ClaimAsync(worker, 10), a => a.WorkflowId == capped);
    }

    [Fact]
    public async Task Within_a_project_higher_priority_goes_first_and_aging_bounds_the_wait()
    {
        var old = await E.SubmitAsync(Many("p", 1, trigger: "mass-rebuild"));
        E.Time.Advance(TimeSpan.FromSeconds(((30 - -20) * FairShare.AgingSecondsPerPoint) + 60));
        var fresh = await E.SubmitAsync(Many("p", 1, trigger: "manual"));
        var worker = await E.WorkerAsync("w1");
        Assert.Equal(old, (await E.ClaimOneAsync(worker)).WorkflowId);

        await E.SubmitAsync(Many("q", 1, trigger: "mass-rebuild"));
        var manual = await E.SubmitAsync(Many("q", 1, trigger: "manual"));
        // Project q has nothing running and p has one: q is served, and within q the manual job first.
        Assert.Equal(manual, (await E.ClaimOneAsync(worker)).WorkflowId);
        Assert.NotEqual(fresh, manual);
    }

    [Fact]
    public async Task Re_prioritising_waiting_work_changes_what_is_claimed_next()
    {
        var first = await E.SubmitAsync(Many("p", 1));
        var second = await E.SubmitAsync(Many("p", 1));
        await Projects.AdjustWorkflowAsync(second, 100, default);
        var worker = await E.WorkerAsync("w1");
        Assert.Equal(second, (await E.ClaimOneAsync(worker)).WorkflowId);
        Assert.Equal(first, (await E.ClaimOneAsync(worker)).WorkflowId);
    }

    [Fact]
    public async Task A_worker_serves_its_queues_in_the_order_it_lists_them()
    {
        var builds = await E.SubmitAsync(Many("p", 2));
        var publish = await E.SubmitAsync(Many("p", 2, queue: "maintenance"));
        var both = await E.WorkerAsync("both", queues: ["builds", "maintenance"]);
        var claimed = await E.ClaimAsync(both, 3);
        Assert.Equal([builds, builds, publish], claimed.Select(a => a.WorkflowId));
    }

    [Fact]
    public async Task Racing_claims_never_come_back_empty_while_enough_work_is_pending()
    {
        await E.SubmitAsync(Many("one", 16));
        var workers = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => E.WorkerAsync($"racer{i}")));
        for (var round = 0; round < 2; round++)
        {
            using var start = new Barrier(8);
            var claims = await Task.WhenAll(workers.Skip(round * 8).Take(8).Select(w => Task.Run(async () =>
            {
                start.SignalAndWait();
                return await E.ClaimAsync(w, 1);
            })));
            Assert.All(claims, c => Assert.Single(c));
        }
    }
}
