namespace Kiln.EndToEnd.Tests;

/// <summary>
/// <c>--task-user-per-slot</c> (tests run as root): each slot's task runs as its own uid, so
/// concurrent tasks cannot write into each other's directories or read the worker's secrets,
/// and ordinary jobs still build and upload their outputs.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TaskUserTests
{
    [Fact]
    public async Task A_task_cannot_write_into_another_slots_directory_nor_read_the_workers_token_file_or_environment()
    {
        await using var farm = await Farm.StartAsync(nameof(TaskUserTests));
        // The farm's temporary directory is 0700; the task users must be able to pass through it.
        File.SetUnixFileMode(farm.Directory, (UnixFileMode)0b111_101_101);
        var tokenFile = Path.Combine(farm.Directory, "token");
        File.WriteAllText(tokenFile, Farm.Token);
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        farm.StartWorker("e2e-slots", 2, 0, "--task-user-per-slot", "--token-file", tokenFile);

        var first = await farm.SubmitAsync("first", """
            echo "first runs as $(id -u)"
            sleep 6
            echo built > result.txt
            """, job => job.Outputs("result.txt"));
        var firstJob = await farm.OnlyJobAsync(first.Id);
        await farm.WaitForLogAsync(firstJob, "first runs as");
        var firstDirectory = Path.Combine(farm.WorkDirectory("e2e-slots"), "tasks", $"{firstJob}-1", "work");
        var second = await farm.SubmitAsync("second", """
            echo "second runs as $(id -u)"
            echo "parent: $(tr '\0' ' ' < /proc/$PPID/cmdline)"
            if echo x > "$FIRST/intrusion" 2>/dev/null; then echo "write into first: DONE"; else echo "write into first: refused"; fi
            if cat "$TOKEN_FILE" >/dev/null 2>&1; then echo "token file: READ"; else echo "token file: refused"; fi
            if cat /proc/$PPID/environ >/dev/null 2>&1; then echo "worker environ: READ"; else echo "worker environ: refused"; fi
            echo mine > mine.txt
            """, job => job.Env("FIRST", firstDirectory).Env("TOKEN_FILE", tokenFile).Outputs("mine.txt"));
        var secondJob = await farm.OnlyJobAsync(second.Id);

        Assert.True((await farm.WaitForWorkflowAsync(second.Id)).State == "succeeded", farm.Diagnostics());
        Assert.True((await farm.WaitForWorkflowAsync(first.Id)).State == "succeeded", farm.Diagnostics());
        var log = await farm.LogAsync(secondJob);
        Assert.Contains("worker --server", log, StringComparison.Ordinal);
        Assert.Contains("write into first: refused", log, StringComparison.Ordinal);
        Assert.Contains("token file: refused", log, StringComparison.Ordinal);
        Assert.Contains("worker environ: refused", log, StringComparison.Ordinal);
        var firstLog = await farm.LogAsync(firstJob);
        Assert.Contains("first runs as 64000", firstLog, StringComparison.Ordinal);
        Assert.Contains("second runs as 64001", log, StringComparison.Ordinal);
        // The worker (root) still uploads what each task produced.
        Assert.Equal("result.txt", Assert.Single((await farm.Client.ListArtifactsAsync(firstJob, null, CancellationToken.None)).Items).Path);
        Assert.Equal("mine.txt", Assert.Single((await farm.Client.ListArtifactsAsync(secondJob, null, CancellationToken.None)).Items).Path);
    }

    [Fact]
    public async Task A_work_directory_closed_to_other_users_is_refused_at_start_with_a_one_line_error()
    {
        var closed = Directory.CreateTempSubdirectory("kiln-closed-").FullName;   // 0700
        try
        {
            await using var worker = KilnProcess.Start(["worker", "--server", "http://127.0.0.1:9", "--task-user-per-slot", "--work-dir", Path.Combine(closed, "w")],
                new Dictionary<string, string> { ["KILN_TOKEN"] = Farm.Token });
            await worker.WaitForExitAsync(TimeSpan.FromMinutes(3));
            Assert.Equal(2, worker.ExitCode);
            Assert.Contains($"{closed} is closed to other users", worker.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(closed, recursive: true);
        }
    }
}
