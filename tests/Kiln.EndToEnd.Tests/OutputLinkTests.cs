namespace Kiln.EndToEnd.Tests;

/// <summary>Outputs come from the job's own directory only: a symbolic link never makes the worker upload a file from elsewhere.</summary>
public sealed class OutputLinkTests
{
    [Fact]
    public async Task Links_in_outputs_are_refused_and_linked_directories_are_not_entered()
    {
        await using var farm = await Farm.StartAsync(nameof(OutputLinkTests));
        farm.StartWorker("e2e-links");

        var linkedFile = await farm.SubmitAsync("linked-file", """
            mkdir -p out
            echo mine > out/own.txt
            ln -s /etc/shadow out/link
            """, job => job.Outputs("out/**").MaxAttempts(1));
        var linkedDirectory = await farm.SubmitAsync("linked-directory", """
            mkdir -p out
            echo mine > out/own.conf
            ln -s /etc out/etc
            """, job => job.Outputs("out/**/*.conf").MaxAttempts(1));

        var refused = await farm.WaitForWorkflowAsync(linkedFile.Id);
        Assert.True(refused.State == "failed", farm.Diagnostics());
        var job = await farm.OnlyJobAsync(linkedFile.Id);
        var attempt = Assert.Single((await farm.Client.GetWorkRequestAsync(job, CancellationToken.None)).Attempts);
        Assert.Contains("'out/link' is (or is inside) a symbolic link", attempt.Message, StringComparison.Ordinal);
        Assert.Contains("symbolic link", await farm.LogAsync(job), StringComparison.Ordinal);
        Assert.DoesNotContain("out/link", (await farm.Client.ListArtifactsAsync(job, null, CancellationToken.None)).Items.Select(a => a.Path));

        var notEntered = await farm.WaitForWorkflowAsync(linkedDirectory.Id);
        Assert.True(notEntered.State == "succeeded", farm.Diagnostics());
        var artifacts = await farm.Client.ListArtifactsAsync(await farm.OnlyJobAsync(linkedDirectory.Id), null, CancellationToken.None);
        Assert.Equal(["out/own.conf"], artifacts.Items.Select(a => a.Path));
    }
}
