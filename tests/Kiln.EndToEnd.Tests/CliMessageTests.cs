using System.Net;
using System.Net.Sockets;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>What a user sees when something is wrong: one line, the right exit code, no .NET internals.</summary>
public sealed class CliMessageTests
{
    [Fact]
    public async Task An_unknown_command_is_a_usage_error_with_exit_code_2_and_no_full_help()
    {
        var (exit, output) = await KilnProcess.RunAsync("foo");
        Assert.True(exit == 2, output);
        Assert.Contains("'foo'", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Run a complete farm", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_argument_prints_the_usage_of_that_command_only()
    {
        var (exit, output) = await KilnProcess.RunAsync("submit");
        Assert.True(exit == 2, output);
        Assert.Contains("usage: kiln submit <file> [options]", output, StringComparison.Ordinal);
        Assert.DoesNotContain("idempotency", output, StringComparison.Ordinal);
        Assert.DoesNotContain("explain", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_reference_is_a_usage_error()
    {
        var (exit, output) = await KilnProcess.RunAsync("show", "wr:x");
        Assert.True(exit == 2, output);
        Assert.Contains("wr:41", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_busy_port_is_one_line_and_no_database_is_created()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        var dataDir = Directory.CreateTempSubdirectory("kiln-e2e-busy-").FullName;
        try
        {
            var (exit, output) = await KilnProcess.RunAsync("up", "--data-dir", dataDir, "--urls", $"http://127.0.0.1:{port}");
            Assert.True(exit == 1, output);
            var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("already in use", line, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(dataDir, "postgres")), "the database was created before the port was checked");
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Against_a_running_server_errors_and_views_speak_the_users_language()
    {
        await using var farm = await Farm.StartAsync(nameof(CliMessageTests));

        // A wrong token was sent: the message says it was refused and names the variable the worker reads.
        var workDir = Path.Combine(farm.Directory, "wrong-token");
        int tokenExit;
        string token;
        await using (var wrong = KilnProcess.Start(["worker", "--server", farm.Url, "--name", "wrong", "--work-dir", workDir],
            new Dictionary<string, string> { ["KILN_TOKEN"] = "not-the-token" }))
        {
            await wrong.WaitForExitAsync(TimeSpan.FromMinutes(3));
            (tokenExit, token) = (wrong.ExitCode, wrong.Output);
        }
        Assert.True(tokenExit == 1, token);
        var tokenLine = Assert.Single(token.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("kiln worker:", StringComparison.Ordinal));
        Assert.Contains("refused", tokenLine, StringComparison.Ordinal);
        Assert.Contains("KILN_TOKEN", tokenLine, StringComparison.Ordinal);
        Assert.DoesNotContain("KILN_WORKER_TOKEN", token, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", token, StringComparison.Ordinal);

        // https to a plain-http server.
        var (tlsExit, tls) = await KilnProcess.RunAsync("list", "--server", farm.Url.Replace("http://", "https://", StringComparison.Ordinal));
        Assert.True(tlsExit == 3, tls);
        Assert.DoesNotContain("inner exception", tls, StringComparison.Ordinal);
        Assert.Contains("http://", tls, StringComparison.Ordinal);

        // A big workflow is summarised; --state and --all list its jobs.
        var big = await farm.Client.SubmitAsync(new WorkflowDocument
        {
            Name = "big",
            Jobs = new()
            {
                ["build"] = new JobDocument
                {
                    Run = "true",
                    Matrix = new() { ["n"] = [.. Enumerable.Range(1, 60).Select(i => $"p{i}")] },
                    Requires = new JobRequirements { Architecture = "riscv64" },
                },
            },
        }, CancellationToken.None);
        var (showExit, show) = await KilnProcess.RunAsync("show", $"{big.Id}", "--server", farm.Url);
        Assert.True(showExit == 0, show);
        Assert.Contains("60 jobs, summarised", show, StringComparison.Ordinal);
        Assert.DoesNotContain("build[p60]", show, StringComparison.Ordinal);
        var (allExit, all) = await KilnProcess.RunAsync("show", $"{big.Id}", "--all", "--state", "pending", "--server", farm.Url);
        Assert.True(allExit == 0, all);
        Assert.Contains("build[p60]", all, StringComparison.Ordinal);

        // A bare number is the workflow, for explain too; wr:ID is the work request.
        var (explainExit, explain) = await KilnProcess.RunAsync("explain", $"{big.Id}", "--server", farm.Url);
        Assert.True(explainExit == 0, explain);
        Assert.Contains($"Workflow {big.Id} big", explain, StringComparison.Ordinal);
        Assert.Contains("no worker is connected", explain, StringComparison.Ordinal);
        Assert.Contains("55 more unfinished job(s)", explain, StringComparison.Ordinal);
        var first = (await farm.Client.GetWorkflowAsync(big.Id, CancellationToken.None)).Jobs![0];
        var (wrExit, wr) = await KilnProcess.RunAsync("explain", $"wr:{first.Id}", "--server", farm.Url);
        Assert.True(wrExit == 0, wr);
        Assert.Contains($"{first.Name} (wr:{first.Id})", wr, StringComparison.Ordinal);

        // A failed watch names the failed job and shows the end of its log.
        farm.StartWorker("e2e-messages");
        var failing = await farm.SubmitAsync("failing", "echo the-reason-it-failed; exit 4", j => j.MaxAttempts(1));
        var (watchExit, watch) = await KilnProcess.RunAsync("watch", $"{failing.Id}", "--server", farm.Url);
        Assert.True(watchExit == 1, watch);
        Assert.Contains($"failed: {failing.Id}/job", watch, StringComparison.Ordinal);
        Assert.Contains("| the-reason-it-failed", watch, StringComparison.Ordinal);
    }
}
