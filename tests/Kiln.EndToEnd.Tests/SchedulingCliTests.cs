using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>The scheduling commands a packager and an operator use: explain, project, priority.</summary>
public sealed class SchedulingCliTests
{
    [Fact]
    public async Task Explain_project_and_priority_work_through_the_cli()
    {
        await using var farm = await Farm.StartAsync(nameof(SchedulingCliTests));
        farm.StartWorker("e2e-sched-amd64");
        await Eventually.TrueAsync(async () => (await farm.Client.ListWorkersAsync(10, null, CancellationToken.None)).Items.Count > 0,
            Farm.Patience, "the worker to register");
        var submitted = await farm.Client.SubmitAsync(new WorkflowDocument
        {
            Project = "ports",
            Jobs = new() { ["build"] = new JobDocument { Run = "true", Requires = new JobRequirements { Architecture = "riscv64" } } },
        }, CancellationToken.None);

        var (exit, output) = await KilnProcess.RunAsync("explain", $"{submitted.Id}/build", "--server", farm.Url);
        Assert.True(exit == 0, output);
        Assert.Contains("no connected worker in queue 'builds' builds for architecture riscv64", output, StringComparison.Ordinal);

        var (setExit, set) = await KilnProcess.RunAsync("project", "set", "ports", "--weight", "3", "--cap", "5", "--json", "--server", farm.Url);
        Assert.True(setExit == 0, set);
        var project = JsonSerializer.Deserialize<ProjectView>(set[set.IndexOf('{', StringComparison.Ordinal)..], KilnClient.Json)!;
        Assert.Equal((3, 5, 1), (project.Weight, project.MaxRunning, project.Pending));

        var (badExit, bad) = await KilnProcess.RunAsync("project", "set", "ports", "--weight", "0", "--server", farm.Url);
        Assert.NotEqual(0, badExit);
        Assert.Contains("weight", bad, StringComparison.Ordinal);

        var (prioExit, prio) = await KilnProcess.RunAsync("priority", $"{submitted.Id}/build", "99", "--server", farm.Url);
        Assert.True(prioExit == 0, prio);
        Assert.Contains("priority 99", prio, StringComparison.Ordinal);
    }
}
