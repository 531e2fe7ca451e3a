namespace Kiln.EndToEnd.Tests;

/// <summary>Cancelling a running task reaches its processes, including ones that ignore SIGTERM.</summary>
public sealed class CancellationTests
{
    /// <summary>The requirement: the task's processes are gone within 5 s of the cancel request.</summary>
    private static readonly TimeSpan CancelBound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Cancelled_long_task_is_killed_within_five_seconds_even_if_it_ignores_sigterm()
    {
        await using var farm = await Farm.StartAsync(nameof(CancellationTests));
        farm.StartWorker("e2e-cancel");
        var pids = Directory.CreateTempSubdirectory("kiln-e2e-pids-").FullName;
        var submitted = await farm.SubmitAsync("stubborn", """
            trap 'echo "TERM ignored"' TERM
            sleep 600 &
            echo $! > "$PIDS/child"
            echo $$ > "$PIDS/shell"
            echo started
            while true; do sleep 0.2; done
            """, job => job.Env("PIDS", pids));
        var job = await farm.OnlyJobAsync(submitted.Id);
        await farm.WaitForLogAsync(job, "started");
        var shell = await ProcessProbe.ReadPidAsync(Path.Combine(pids, "shell"));
        var child = await ProcessProbe.ReadPidAsync(Path.Combine(pids, "child"));
        Assert.True(ProcessProbe.IsAlive(shell) && ProcessProbe.IsAlive(child));

        var (exit, output) = await KilnProcess.RunAsync("cancel", $"{submitted.Id}", "--server", farm.Url);
        Assert.True(exit == 0, output);

        await Eventually.TrueAsync(() => !ProcessProbe.IsAlive(shell) && !ProcessProbe.IsAlive(child), CancelBound, "the task's processes to be killed", farm.Diagnostics);
        var workflow = await farm.WaitForWorkflowAsync(submitted.Id);
        Assert.Equal("cancelled", workflow.State);
        var attempt = (await farm.Client.GetWorkRequestAsync(job, CancellationToken.None)).Attempts.Single();
        Assert.Equal("cancelled", attempt.Outcome);
        Assert.Contains("started", await farm.LogAsync(job), StringComparison.Ordinal);
        Directory.Delete(pids, recursive: true);
    }
}
