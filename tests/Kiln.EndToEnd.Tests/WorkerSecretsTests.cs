namespace Kiln.EndToEnd.Tests;

/// <summary>What a task can learn about the worker that runs it: not its registration token.</summary>
public sealed class WorkerSecretsTests
{
    [Fact]
    public async Task A_task_finds_the_token_neither_in_the_workers_environment_nor_in_its_command_line()
    {
        await using var farm = await Farm.StartAsync(nameof(WorkerSecretsTests));
        farm.StartWorker("e2e-secrets");
        // The token is spelt in two halves so that the script itself does not contain it.
        var submitted = await farm.SubmitAsync("peek", """
            token="e2e-registration""-token"
            echo "parent: $(tr '\0' ' ' < /proc/$PPID/cmdline)"
            echo "environ readable: $(tr '\0' '\n' < /proc/$PPID/environ | grep -c '^KILN_CONFIG=')"
            if tr '\0' '\n' < /proc/$PPID/environ 2>/dev/null | grep -qF "$token"; then echo "environ: TOKEN FOUND"; else echo "environ: no token"; fi
            if tr '\0' '\n' < /proc/$PPID/cmdline | grep -qF "$token"; then echo "cmdline: TOKEN FOUND"; else echo "cmdline: no token"; fi
            if env | grep -qF "$token"; then echo "own env: TOKEN FOUND"; else echo "own env: no token"; fi
            """);
        var workflow = await farm.WaitForWorkflowAsync(submitted.Id);
        Assert.True(workflow.State == "succeeded", farm.Diagnostics());

        var log = await farm.LogAsync(await farm.OnlyJobAsync(submitted.Id));
        // The parent looked at is the worker itself, not some shell in between.
        Assert.Contains("worker --server", log, StringComparison.Ordinal);
        // Tests run as root, so the task may read the worker's environ (non-dumpable only stops other users): what matters is what is in it.
        Assert.Contains("environ readable: 1", log, StringComparison.Ordinal);
        Assert.DoesNotContain("TOKEN FOUND", log, StringComparison.Ordinal);
        Assert.Contains("environ: no token", log, StringComparison.Ordinal);
        Assert.Contains("cmdline: no token", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_on_the_command_line_is_refused_with_a_one_line_error()
    {
        var (exitCode, output) = await KilnProcess.RunAsync("worker", "--server", "http://127.0.0.1:9", "--token", "secret-in-argv");
        Assert.Equal(2, exitCode);
        Assert.Contains("--token-file", output, StringComparison.Ordinal);
    }
}
