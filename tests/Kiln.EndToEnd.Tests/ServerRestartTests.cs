namespace Kiln.EndToEnd.Tests;

/// <summary>The worker keeps the result of a task that ends while the server is down, and reports it once the server is back.</summary>
public sealed class ServerRestartTests
{
    [Fact]
    public async Task Result_of_a_task_that_ends_while_the_server_is_down_is_reported_after_it_restarts()
    {
        // The lease outlasts the outage, so the attempt is still the worker's when the server returns.
        await using var farm = await Farm.StartAsync(nameof(ServerRestartTests), leaseSeconds: 60);
        farm.StartWorker("e2e-patient");
        var marks = Directory.CreateTempSubdirectory("kiln-e2e-marks-").FullName;
        var submitted = await farm.SubmitAsync("outage", """
            echo before
            while [ ! -e "$MARKS/server-down" ]; do sleep 0.1; done
            echo after
            echo kept > result.txt
            touch "$MARKS/task-done"
            """, job => job.Env("MARKS", marks).Outputs("result.txt"));
        var job = await farm.OnlyJobAsync(submitted.Id);
        await farm.WaitForLogAsync(job, "before");

        farm.Server!.KillHard();
        await farm.Server.WaitForExitAsync(Farm.Patience);
        await File.WriteAllTextAsync(Path.Combine(marks, "server-down"), "");
        await Eventually.TrueAsync(() => File.Exists(Path.Combine(marks, "task-done")), Farm.Patience, "the task to end while the server is down");
        await farm.StartServerAsync();

        var workflow = await farm.WaitForWorkflowAsync(submitted.Id);
        Assert.True(workflow.State == "succeeded", farm.Diagnostics());
        var attempt = Assert.Single((await farm.Client.GetWorkRequestAsync(job, CancellationToken.None)).Attempts);
        Assert.Equal("succeeded", attempt.Outcome);
        var log = await farm.LogAsync(job);
        Assert.Contains("before", log, StringComparison.Ordinal);
        Assert.Contains("after", log, StringComparison.Ordinal);
        Assert.Equal("result.txt", Assert.Single((await farm.Client.ListArtifactsAsync(job, null, CancellationToken.None)).Items).Path);
        Directory.Delete(marks, recursive: true);
    }
}
