using System.Text;
using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>The example distribution pipeline, driven through the real CLI against a real server and two real workers.</summary>
public sealed class ExamplePipelineTests
{
    [Fact]
    public async Task Example_pipeline_builds_tests_packages_and_publishes_an_apt_index()
    {
        await using var farm = await Farm.StartAsync(nameof(ExamplePipelineTests));
        farm.StartWorker("e2e-pipeline-1");
        farm.StartWorker("e2e-pipeline-2");

        var (exit, output) = await KilnProcess.RunAsync("submit", "examples/hello-deb.yaml", "--watch", "--json", "--server", farm.Url);

        Assert.True(exit == 0, $"kiln submit --watch exited {exit}:\n{output}\n{farm.Diagnostics()}");
        var json = output[output.IndexOf('{', StringComparison.Ordinal)..];
        var workflow = JsonSerializer.Deserialize<WorkflowView>(json, KilnClient.Json)!;
        Assert.Equal("succeeded", workflow.State);
        Assert.Equal(
            ["build[small]", "build[standard]", "publish", "source", "test[small]", "test[standard]"],
            workflow.Jobs!.Select(j => j.Name).Order(StringComparer.Ordinal));

        var publish = workflow.Jobs!.Single(j => j.Name == "publish").Id;
        var artifacts = await farm.Client.ListArtifactsAsync(publish, null, CancellationToken.None);
        Assert.Contains(artifacts.Items, a => a.Path == "repo/Release");
        Assert.Equal(2, artifacts.Items.Count(a => a.Path.StartsWith("repo/pool/", StringComparison.Ordinal) && a.Path.EndsWith(".deb", StringComparison.Ordinal)));

        using var packages = new MemoryStream();
        await farm.Client.DownloadArtifactAsync(publish, artifacts.Attempt, "repo/Packages", 0, packages, CancellationToken.None);
        var index = Encoding.UTF8.GetString(packages.ToArray());
        Assert.Contains("Package: kiln-hello\n", index, StringComparison.Ordinal);
        Assert.Contains("Package: kiln-hello-small\n", index, StringComparison.Ordinal);

        var (logExit, log) = await KilnProcess.RunAsync("logs", $"{workflow.Id}/build[small]", "--server", farm.Url);
        Assert.Equal(0, logExit);
        Assert.Contains("unit tests passed", log, StringComparison.Ordinal);
        Assert.Contains("inputs/source/", log, StringComparison.Ordinal);
    }
}
