namespace Kiln.EndToEnd.Tests;

/// <summary>A worker that dies without a word loses its lease; the work is requeued and another worker finishes it.</summary>
public sealed class WorkerLossTests
{
    [Fact]
    public async Task Work_of_a_worker_killed_with_sigkill_is_requeued_and_finished_by_another_worker()
    {
        await using var farm = await Farm.StartAsync(nameof(WorkerLossTests), leaseSeconds: 4);
        var doomed = farm.StartWorker("e2e-doomed");
        var submitted = await farm.SubmitAsync("survivor", """
            echo "running on $KILN_WORKER"
            sleep 3
            echo finished > result.txt
            """, job => job.Outputs("result.txt"));
        var job = await farm.OnlyJobAsync(submitted.Id);
        await farm.WaitForLogAsync(job, "running on e2e-doomed");

        doomed.KillHard();
        farm.StartWorker("e2e-rescuer");
        var workflow = await farm.WaitForWorkflowAsync(submitted.Id);

        Assert.True(workflow.State == "succeeded", farm.Diagnostics());
        var attempts = (await farm.Client.GetWorkRequestAsync(job, CancellationToken.None)).Attempts;
        Assert.Equal(["lost", "succeeded"], attempts.Select(a => a.Outcome));
        Assert.Equal(["e2e-doomed", "e2e-rescuer"], attempts.Select(a => a.WorkerName));
        Assert.Contains("running on e2e-rescuer", await farm.LogAsync(job), StringComparison.Ordinal);
        var artifacts = await farm.Client.ListArtifactsAsync(job, null, CancellationToken.None);
        Assert.Equal(2, artifacts.Attempt);
        Assert.Equal("result.txt", Assert.Single(artifacts.Items).Path);
    }
}
