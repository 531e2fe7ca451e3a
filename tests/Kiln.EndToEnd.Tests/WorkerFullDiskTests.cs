namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A worker whose server cannot store its log (the log volume is full: a real 1 MiB tmpfs, filled)
/// still reports its result, after a bounded wait, instead of renewing its lease until the task's
/// timeout and having the result refused.
/// </summary>
public sealed class WorkerFullDiskTests
{
    [Fact]
    public async Task A_worker_reports_its_result_with_the_log_marked_truncated_when_the_server_cannot_store_the_log()
    {
        await using var farm = await Farm.StartAsync(nameof(WorkerFullDiskTests));
        using var logs = SmallVolume.Mount(Path.Combine(farm.ServerDataDirectory, "logs"));
        logs.Fill();
        farm.StartWorker("e2e-full-disk", options: ["--flush-timeout-seconds", "2"]);

        var submitted = await farm.SubmitAsync("full-disk", """
            for i in $(seq 1 3000); do echo "line $i of a log the server has no room for"; done
            """, job => job.Timeout(3600));
        var workflow = await farm.WaitForWorkflowAsync(submitted.Id);

        Assert.True(workflow.State == "succeeded", farm.Diagnostics());
        var attempt = Assert.Single((await farm.Client.GetWorkRequestAsync(await farm.OnlyJobAsync(submitted.Id), CancellationToken.None)).Attempts);
        Assert.Equal("succeeded", attempt.Outcome);
        Assert.Contains("the log is truncated at 0 bytes", attempt.Message, StringComparison.Ordinal);
        Assert.Contains("storage is full", attempt.Message, StringComparison.Ordinal);
    }
}
