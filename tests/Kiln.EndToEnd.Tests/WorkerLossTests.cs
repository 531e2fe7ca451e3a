using Xunit.Abstractions;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A worker that dies without a word is noticed by its silence, well before its lease would
/// run out; the work is requeued at once and another worker finishes it.
/// </summary>
public sealed class WorkerLossTests(ITestOutputHelper output)
{
    /// <summary>The default lease: long enough that only the worker-silence detection can end the attempt before it.</summary>
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Work_of_a_worker_killed_with_sigkill_is_requeued_by_its_silence_before_the_lease_expires_and_finished_by_another_worker()
    {
        await using var farm = await Farm.StartAsync(nameof(WorkerLossTests), leaseSeconds: (int)Lease.TotalSeconds);
        var doomed = farm.StartWorker("e2e-doomed");
        var submitted = await farm.SubmitAsync("survivor", """
            echo "running on $KILN_WORKER"
            sleep 3
            echo finished > result.txt
            """, job => job.Outputs("result.txt"));
        var job = await farm.OnlyJobAsync(submitted.Id);
        await farm.WaitForLogAsync(job, "running on e2e-doomed");

        doomed.KillHard();
        var killedAt = TimeProvider.System.GetUtcNow();   // the server runs on this machine's clock
        farm.StartWorker("e2e-rescuer");
        var workflow = await farm.WaitForWorkflowAsync(submitted.Id);

        Assert.True(workflow.State == "succeeded", farm.Diagnostics());
        var attempts = (await farm.Client.GetWorkRequestAsync(job, CancellationToken.None)).Attempts;
        Assert.Equal(["lost", "succeeded"], attempts.Select(a => a.Outcome));
        Assert.Equal(["e2e-doomed", "e2e-rescuer"], attempts.Select(a => a.WorkerName));
        var (lost, rescued) = (attempts[0], attempts[1]);
        // The lease granted at the claim ran until at least StartedAt + 60 s: ending the attempt
        // before that, and starting the next one before that too (no backoff), is the silence
        // detection's doing, not the lease's.
        var leaseEnd = lost.StartedAt + Lease;
        Assert.True(lost.FinishedAt < leaseEnd, $"lost at {lost.FinishedAt:O}, lease ran until {leaseEnd:O}");
        Assert.True(rescued.StartedAt < leaseEnd, $"rescued at {rescued.StartedAt:O}, lease ran until {leaseEnd:O}");
        output.WriteLine($"SIGKILLed worker detected (attempt ended as lost) {(lost.FinishedAt - killedAt).TotalSeconds:0.0} s after the kill " +
            $"({(lost.FinishedAt - lost.StartedAt).TotalSeconds:0.0} s after the claim); next attempt started on another worker " +
            $"{(rescued.StartedAt - lost.FinishedAt).TotalSeconds:0.0} s later (lease {Lease.TotalSeconds:0} s, heartbeat 1 s, silence bound 25 s + 1 s tick)");
        Assert.Contains("running on e2e-rescuer", await farm.LogAsync(job), StringComparison.Ordinal);
        var artifacts = await farm.Client.ListArtifactsAsync(job, null, CancellationToken.None);
        Assert.Equal(2, artifacts.Attempt);
        Assert.Equal("result.txt", Assert.Single(artifacts.Items).Path);
    }
}
