using System.Diagnostics;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A real worker process runs a job in an environment imported into a real server (`kiln env import`), and
/// is SIGKILLed while the job runs: the job's processes live in the job's cgroup, outside the worker's
/// process tree, and the restarted worker (same work directory) kills them and removes what the job left
/// before it takes any new work — while the server retries the lost attempt.
/// </summary>
public sealed class EnvironmentWorkerKillTests
{
    [Fact]
    public async Task A_job_in_an_environment_leaves_no_process_behind_when_its_worker_is_killed_and_started_again()
    {
        await using var farm = await Farm.StartAsync(nameof(EnvironmentWorkerKillTests));
        var tarball = await Kiln.Testing.TestEnvironments.EssentialAsync();
        var (imported, importOutput) = await KilnProcess.RunAsync("env", "import", "test/essential", tarball, "--server", farm.Url);
        Assert.True(imported == 0, importOutput);

        var marker = $"kiln-orphan-{Guid.NewGuid():N}";
        var worker = farm.StartWorker("e2e-env-doomed");
        // A process that leaves its process group and ignores SIGTERM: only the cgroup finds it.
        var submitted = await farm.SubmitAsync("env-orphan", $"""
            setsid bash -c 'trap "" TERM; exec -a {marker} sleep 600' &
            echo started
            sleep 600
            """, job => job.Environment("test/essential"));
        var id = await farm.OnlyJobAsync(submitted.Id);
        await farm.WaitForLogAsync(id, "started");
        Assert.True(Running(marker), "the job's background process should be running");

        worker.KillHard();
        await worker.WaitForExitAsync(TimeSpan.FromSeconds(30));
        farm.StartWorker("e2e-env-doomed");

        await Eventually.TrueAsync(() => !Running(marker), TimeSpan.FromSeconds(60),
            "the restarted worker to kill what the killed one's job left running", farm.Diagnostics);
    }

    private static bool Running(string marker)
    {
        using var pgrep = Process.Start(new ProcessStartInfo("pgrep", ["-f", marker]) { RedirectStandardOutput = true })!;
        pgrep.WaitForExit();
        return pgrep.ExitCode == 0;
    }
}
