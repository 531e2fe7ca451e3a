using Kiln.Contracts;
using Kiln.Store.Scheduling;

namespace Kiln.Engine.Tests;

/// <summary>The load shown for each project is counted up to a cap, so listing projects stays cheap however much is queued.</summary>
public sealed class ProjectLoadTests : EngineTest
{
    [Fact]
    public async Task Pending_counts_stop_at_the_cap_and_say_so()
    {
        var projects = new ProjectStore(E.DataSource, E.Time);
        var values = Enumerable.Range(0, 101).Select(i => $"v{i}").ToList();
        await E.SubmitAsync(new WorkflowDocument
        {
            Project = "huge",
            Jobs = new() { ["a"] = new JobDocument { Run = "true", Matrix = new() { ["x"] = values, ["y"] = [.. values.Take(100)] } } },
        });
        await E.SubmitAsync(new WorkflowDocument { Project = "small", Jobs = new() { ["a"] = new JobDocument { Run = "true" } } });

        var page = await projects.ListAsync(null, 10, default);

        var huge = page.Items.Single(p => p.Name == "huge");
        Assert.Equal(ProjectView.CountCap, huge.Pending);
        Assert.True(huge.CountsCapped);
        var small = page.Items.Single(p => p.Name == "small");
        Assert.Equal(1, small.Pending);
        Assert.False(small.CountsCapped);
        Assert.Equal(huge, await projects.GetAsync("huge", default));
    }
}
