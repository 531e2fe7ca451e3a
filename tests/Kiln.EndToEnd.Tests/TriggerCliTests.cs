using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>A project owner's trigger commands: a rules file set with the workflow it names, a run by hand, the events it made, pause and resume.</summary>
public sealed class TriggerCliTests
{
    [Fact]
    public async Task Rules_set_from_a_file_run_by_hand_and_their_events_are_shown_through_the_cli()
    {
        await using var farm = await Farm.StartAsync(nameof(TriggerCliTests));
        await farm.Client.SubmitAsync(new WorkflowDocument { Project = "cli", Jobs = new() { ["first"] = new JobDocument { Run = "true", Requires = new JobRequirements { Queue = "nobody" } } } }, CancellationToken.None);
        var dir = Directory.CreateTempSubdirectory("kiln-e2e-rules-").FullName;
        await File.WriteAllTextAsync(Path.Combine(dir, "build.yaml"), """
            name: build
            parameters:
              package: {default: none}
            jobs:
              build:
                run: echo ${{ params.package }}
                requires: {queue: nobody}
            """);
        await File.WriteAllTextAsync(Path.Combine(dir, "rules.yaml"), """
            rules:
              - name: eln
                source: koji
                koji-tags: [eln]
                workflow: build.yaml
                params: {package: "${{ event.nvr }}"}
                burst: {limit: 20, window: 10m}
              - name: by-hand
                source: manual
                workflow: build.yaml
            """);
        await File.WriteAllTextAsync(Path.Combine(dir, "bad.yaml"), """
            rules:
              - name: eln
                source: koji
                koji-tag: [eln]
                workflow: build.yaml
            """);

        var (setExit, set) = await KilnProcess.RunAsync("trigger", "set", "cli", Path.Combine(dir, "rules.yaml"), "--server", farm.Url);
        Assert.True(setExit == 0, set);
        Assert.Contains("rules version 1 (by-hand, eln)", set, StringComparison.Ordinal);

        var (badExit, bad) = await KilnProcess.RunAsync("trigger", "set", "cli", Path.Combine(dir, "bad.yaml"), "--server", farm.Url);
        Assert.NotEqual(0, badExit);
        Assert.Contains("bad.yaml:4", bad, StringComparison.Ordinal);
        Assert.Contains("koji-tag", bad, StringComparison.Ordinal);

        var (listExit, list) = await KilnProcess.RunAsync("trigger", "list", "cli", "--server", farm.Url);
        Assert.True(listExit == 0, list);
        Assert.Contains("koji-tag eln", list, StringComparison.Ordinal);
        Assert.Contains("20/10m", list, StringComparison.Ordinal);

        var (runExit, run) = await KilnProcess.RunAsync("trigger", "run", "cli", "by-hand", "-p", "package=hello", "--server", farm.Url);
        Assert.True(runExit == 0, run);
        Assert.Contains("processed", run, StringComparison.Ordinal);
        Assert.Contains("created: workflow", run, StringComparison.Ordinal);

        var (eventsExit, events) = await KilnProcess.RunAsync("events", "list", "--project", "cli", "--server", farm.Url);
        Assert.True(eventsExit == 0, events);
        Assert.Contains("manual", events, StringComparison.Ordinal);

        var (pauseExit, pause) = await KilnProcess.RunAsync("events", "pause", "--project", "cli", "--rule", "eln", "--server", farm.Url);
        Assert.True(pauseExit == 0, pause);
        Assert.Contains("rule:cli/eln paused", pause, StringComparison.Ordinal);
        var (usageExit, usage) = await KilnProcess.RunAsync("events", "resume", "--rule", "eln", "--server", farm.Url);
        Assert.NotEqual(0, usageExit);
        Assert.Contains("--project P --rule R", usage, StringComparison.Ordinal);

        var (historyExit, history) = await KilnProcess.RunAsync("trigger", "history", "cli", "--server", farm.Url);
        Assert.True(historyExit == 0, history);
        Assert.Contains("eln, by-hand", history, StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }
}
