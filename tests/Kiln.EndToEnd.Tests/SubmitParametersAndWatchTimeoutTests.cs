namespace Kiln.EndToEnd.Tests;

/// <summary>Through the real <c>kiln</c> executable: <c>submit -p</c> and <c>--branch</c>, omitted jobs printed, <c>watch --timeout</c>.</summary>
public sealed class SubmitParametersAndWatchTimeoutTests
{
    private const string Release = """
        name: release
        parameters:
          suite: { values: [bookworm, trixie] }
        jobs:
          build:
            requires: { architecture: riscv64 }   # no worker offers it: the workflow stays unfinished
            run: echo ${{ params.suite }}
          publish:
            needs: [build]
            if: branch == 'main'
            run: publish
        """;

    [Fact]
    public async Task Parameters_from_the_command_line_reach_the_job_and_watch_gives_up_with_exit_code_4()
    {
        await using var farm = await Farm.StartAsync(nameof(SubmitParametersAndWatchTimeoutTests));
        var file = Path.Combine(farm.Directory, "release.yaml");
        await File.WriteAllTextAsync(file, Release);

        var (missingExit, missing) = await KilnProcess.RunAsync("submit", file, "--server", farm.Url);
        Assert.True(missingExit == 1, missing);
        Assert.Contains("params.suite: parameter 'suite' has no default", missing, StringComparison.Ordinal);

        var (badExit, bad) = await KilnProcess.RunAsync("submit", file, "-p", "suite", "--server", farm.Url);
        Assert.True(badExit == 2, bad);
        Assert.Contains("NAME=VALUE", bad, StringComparison.Ordinal);

        var (exit, output) = await KilnProcess.RunAsync("submit", file, "-p", "suite=trixie", "--branch", "feature", "--json", "--server", farm.Url);
        Assert.True(exit == 0, output);
        var answer = System.Text.Json.JsonDocument.Parse(output).RootElement;
        Assert.Equal("publish", answer.GetProperty("omitted")[0].GetString());
        var id = answer.GetProperty("id").GetInt64();
        var job = await farm.Client.GetWorkRequestAsync(await farm.OnlyJobAsync(id), CancellationToken.None);
        Assert.Equal("echo trixie", job.Run);

        var (watchExit, watch) = await KilnProcess.RunAsync("watch", $"{id}", "--timeout", "1", "--server", farm.Url);
        Assert.True(watchExit == 4, watch);
        Assert.Contains($"kiln watch: gave up after 1 s: workflow {id} has not finished and keeps running", watch, StringComparison.Ordinal);
        Assert.Equal("running", (await farm.Client.GetWorkflowAsync(id, CancellationToken.None)).State);

        var (zeroExit, zero) = await KilnProcess.RunAsync("watch", $"{id}", "--timeout", "0", "--server", farm.Url);
        Assert.True(zeroExit == 2, zero);
    }
}
