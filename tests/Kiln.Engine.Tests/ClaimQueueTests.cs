using Kiln.Contracts;
using Kiln.Store.Scheduling;

namespace Kiln.Engine.Tests;

/// <summary>
/// The claim counts running work per queue for fair share, and in every queue for a cap. It
/// reads other queues' running rows only while some project has a cap; both ways must order
/// projects the same.
/// </summary>
public sealed class ClaimQueueTests : EngineTest
{
    private ProjectStore Projects => new(E.DataSource, E.Time);

    private static WorkflowDocument Many(string project, int count, string queue = "builds") => new()
    {
        Project = project,
        Jobs = Enumerable.Range(0, count).ToDictionary(i => $"{queue}{i}", _ => new JobDocument { Run = "true", Requires = new JobRequirements { Queue = queue } }),
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Fair_share_compares_running_work_in_the_claiming_queue_only(bool someProjectHasACap)
    {
        await E.SubmitAsync(Many("busy-elsewhere", 3, queue: "maintenance"));
        var busy = await E.SubmitAsync(Many("busy-elsewhere", 2));
        var idle = await E.SubmitAsync(Many("idle", 2));
        if (someProjectHasACap)
        {
            await Projects.PutAsync("unrelated", new ProjectSettings(1, 0, 5), default);
        }
        var publisher = await E.WorkerAsync("publisher", queues: ["maintenance"]);
        Assert.Equal(3, (await E.ClaimAsync(publisher, 3)).Count);

        // Neither project runs anything in builds: the tie goes to the older row, however much
        // its project runs in maintenance; then the project with nothing running in builds.
        var builder = await E.WorkerAsync("builder");
        Assert.Equal(busy, (await E.ClaimOneAsync(builder)).WorkflowId);
        Assert.Equal(idle, (await E.ClaimOneAsync(builder)).WorkflowId);
    }

    [Fact]
    public async Task A_cap_counts_the_projects_running_work_in_every_queue()
    {
        await Projects.PutAsync("capped", new ProjectSettings(1, 0, 2), default);
        await E.SubmitAsync(Many("capped", 3, queue: "maintenance"));
        var cappedBuilds = await E.SubmitAsync(Many("capped", 5));
        var other = await E.SubmitAsync(Many("other", 5));
        var publisher = await E.WorkerAsync("publisher", queues: ["maintenance"]);
        Assert.Single(await E.ClaimAsync(publisher, 1));

        var claimed = await E.ClaimAsync(await E.WorkerAsync("builder"), 4);

        Assert.Equal(1, claimed.Count(a => a.WorkflowId == cappedBuilds));
        Assert.Equal(3, claimed.Count(a => a.WorkflowId == other));
    }
}
