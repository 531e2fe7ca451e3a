namespace Kiln.EndToEnd.Tests;

/// <summary>How a worker stops: SIGTERM drains; a second SIGTERM hands running work back; a timeout kills the task.</summary>
public sealed class WorkerShutdownTests
{
    private const int SIGTERM = 15;

    [Fact]
    public async Task Sigterm_drains_running_work_and_a_second_sigterm_hands_it_back_for_retry()
    {
        await using var farm = await Farm.StartAsync(nameof(WorkerShutdownTests));
        var marks = Directory.CreateTempSubdirectory("kiln-e2e-drain-").FullName;
        var draining = farm.StartWorker("e2e-draining");
        var first = await farm.SubmitAsync("finishes", """
            echo started
            while [ ! -e "$MARKS/go" ]; do sleep 0.1; done
            echo finished
            """, job => job.Env("MARKS", marks));
        var firstJob = await farm.OnlyJobAsync(first.Id);
        await farm.WaitForLogAsync(firstJob, "started");

        draining.Signal(SIGTERM);
        var second = await farm.SubmitAsync("waits", "echo started; sleep 600");
        await File.WriteAllTextAsync(Path.Combine(marks, "go"), "");
        await draining.WaitForExitAsync(Farm.Patience);

        Assert.True(draining.ExitCode == 0, draining.Output);
        Assert.Equal("succeeded", (await farm.WaitForWorkflowAsync(first.Id)).State);
        var waiting = (await farm.Client.GetWorkflowAsync(second.Id, CancellationToken.None)).Jobs!.Single();
        Assert.Equal(("pending", 0), (waiting.State, waiting.Attempt));

        var stopping = farm.StartWorker("e2e-stopping");
        await farm.WaitForLogAsync(waiting.Id, "started");
        stopping.Signal(SIGTERM);
        // Two signals sent at once may arrive as one: the second goes after the first was seen.
        await Eventually.TrueAsync(() => stopping.Output.Contains("Draining", StringComparison.Ordinal), Farm.Patience, "the worker to start draining");
        stopping.Signal(SIGTERM);
        await stopping.WaitForExitAsync(Farm.Patience);

        Assert.True(stopping.ExitCode == 0, stopping.Output);
        var handedBack = await farm.Client.GetWorkRequestAsync(waiting.Id, CancellationToken.None);
        var attempt = Assert.Single(handedBack.Attempts);
        Assert.Equal("error", attempt.Outcome);
        Assert.Contains("shut down", attempt.Message, StringComparison.Ordinal);
        Assert.Equal("pending", handedBack.Summary.State);
        Directory.Delete(marks, recursive: true);
    }

    [Fact]
    public async Task A_prefetching_worker_starts_ready_work_as_slots_free_and_hands_it_back_on_drain()
    {
        await using var farm = await Farm.StartAsync(nameof(A_prefetching_worker_starts_ready_work_as_slots_free_and_hands_it_back_on_drain));
        var marks = Directory.CreateTempSubdirectory("kiln-e2e-prefetch-").FullName;
        var worker = farm.StartWorker("e2e-prefetch", slots: 1, prefetch: 2);
        const string Blocking = """
            echo started
            while [ ! -e "$MARKS/$GO" ]; do sleep 0.1; done
            """;
        var first = await farm.SubmitAsync("blocks", Blocking, job => job.Env("MARKS", marks).Env("GO", "go1"));
        await farm.WaitForLogAsync(await farm.OnlyJobAsync(first.Id), "started");

        // The slot is busy: the next two are claimed ahead and wait on the worker.
        var ready = await farm.SubmitAsync("ready", "echo ran");
        var cancelled = await farm.SubmitAsync("cancelled", "echo ran");
        var readyJob = await farm.OnlyJobAsync(ready.Id);
        var cancelledJob = await farm.OnlyJobAsync(cancelled.Id);
        await Eventually.TrueAsync(async () => await StateAsync(farm, readyJob) == "running" && await StateAsync(farm, cancelledJob) == "running",
            Farm.Patience, "both to be claimed ahead", farm.Diagnostics);
        Assert.DoesNotContain($"Started work request {readyJob} ", worker.Output, StringComparison.Ordinal);

        // Cancelling work that waits on the worker ends it without running it.
        await farm.Client.CancelWorkRequestAsync(cancelledJob, CancellationToken.None);
        Assert.Equal("cancelled", (await farm.WaitForWorkflowAsync(cancelled.Id)).State);

        await File.WriteAllTextAsync(Path.Combine(marks, "go1"), "");
        Assert.Equal("succeeded", (await farm.WaitForWorkflowAsync(first.Id)).State);
        Assert.Equal("succeeded", (await farm.WaitForWorkflowAsync(ready.Id)).State);
        Assert.DoesNotContain($"Started work request {cancelledJob} ", worker.Output, StringComparison.Ordinal);

        // Draining finishes the running task and hands back the one it had not started.
        var second = await farm.SubmitAsync("blocks-again", Blocking, job => job.Env("MARKS", marks).Env("GO", "go2"));
        await farm.WaitForLogAsync(await farm.OnlyJobAsync(second.Id), "started");
        var unstarted = await farm.SubmitAsync("unstarted", "echo ran");
        var unstartedJob = await farm.OnlyJobAsync(unstarted.Id);
        await Eventually.TrueAsync(async () => await StateAsync(farm, unstartedJob) == "running", Farm.Patience, "it to be claimed ahead", farm.Diagnostics);
        worker.Signal(SIGTERM);
        await Eventually.TrueAsync(async () => await StateAsync(farm, unstartedJob) == "pending", Farm.Patience, "the hand-back", farm.Diagnostics);
        await File.WriteAllTextAsync(Path.Combine(marks, "go2"), "");
        await worker.WaitForExitAsync(Farm.Patience);

        Assert.True(worker.ExitCode == 0, worker.Output);
        Assert.Equal("succeeded", (await farm.WaitForWorkflowAsync(second.Id)).State);
        var handedBack = await farm.Client.GetWorkRequestAsync(unstartedJob, CancellationToken.None);
        Assert.Equal("released", Assert.Single(handedBack.Attempts).Outcome);
        Assert.Equal("pending", handedBack.Summary.State);
        Directory.Delete(marks, recursive: true);
    }

    private static async Task<string> StateAsync(Farm farm, long workRequestId) =>
        (await farm.Client.GetWorkRequestAsync(workRequestId, CancellationToken.None)).Summary.State;

    [Fact]
    public async Task A_task_past_its_timeout_is_killed_by_the_worker()
    {
        await using var farm = await Farm.StartAsync(nameof(A_task_past_its_timeout_is_killed_by_the_worker));
        var pids = Directory.CreateTempSubdirectory("kiln-e2e-timeout-").FullName;
        farm.StartWorker("e2e-timeout");
        var submitted = await farm.SubmitAsync("too-slow", """
            sleep 600 &
            echo $! > "$PIDS/sleep"
            wait
            """, job => job.Env("PIDS", pids).Timeout(2).MaxAttempts(1));

        var workflow = await farm.WaitForWorkflowAsync(submitted.Id);

        Assert.Equal("failed", workflow.State);
        var attempt = Assert.Single((await farm.Client.GetWorkRequestAsync(workflow.Jobs!.Single().Id, CancellationToken.None)).Attempts);
        Assert.Equal("timed-out", attempt.Outcome);
        var sleep = await ProcessProbe.ReadPidAsync(Path.Combine(pids, "sleep"));
        await Eventually.TrueAsync(() => !ProcessProbe.IsAlive(sleep), Farm.Patience, "the timed-out task's processes to be killed", farm.Diagnostics);
        Directory.Delete(pids, recursive: true);
    }
}
