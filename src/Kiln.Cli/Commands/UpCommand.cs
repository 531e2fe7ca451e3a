using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Kiln.Cli.Workflows;
using Kiln.Contracts;
using Kiln.Server.Hosting;
using Kiln.Store.Database;
using Kiln.Worker;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln up</c>: a whole farm in one process tree — the managed PostgreSQL, the server (in this
/// process) and N local workers (child processes, restarted if they die). Ctrl-C stops the
/// workers first (their running tasks are reported for retry), then the server, then the
/// database. Everything lives in the data directory, so a restart carries on where it stopped.
/// </summary>
public static class UpCommand
{
    /// <summary>How long stopping workers may take to report before they are killed.</summary>
    private static readonly TimeSpan WorkerStopTimeout = TimeSpan.FromSeconds(40);

    public static Command Create()
    {
        var dataDir = new Option<string?>("--data-dir") { Description = "Where the database, logs and artifacts live (default: $KILN_DATA_DIR or ./.kiln)" };
        var urls = new Option<string?>("--urls") { Description = "Listen address (default: $KILN_URLS or http://127.0.0.1:8080)" };
        var workers = new Option<int>("--workers") { Description = "Local workers to start", DefaultValueFactory = _ => 2 };
        var slots = new Option<int>("--slots") { Description = "Tasks each local worker runs at once", DefaultValueFactory = _ => 1 };
        var demo = new Option<bool>("--demo") { Description = "Submit the workflows in examples/ and watch them finish" };
        var examples = new Option<string>("--examples") { Description = "Directory of workflow files for --demo", DefaultValueFactory = _ => "examples" };
        var exit = new Option<bool>("--exit") { Description = "With --demo: stop the farm when the demo has finished (exit code 0 if it succeeded)" };
        var command = new Command("up", "Run a complete farm on this machine: database, server and local workers.")
        {
            dataDir, urls, workers, slots, demo, examples, exit,
        };
        var transport = new TransportSecurityOptions();
        transport.AddTo(command);
        // Rate limits (docs/api.md, "Rate limits").
        var rateLimits = new RateLimitOptions();
        rateLimits.AddTo(command);
        var secretsKey = new SecretsKeyOption();
        secretsKey.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var options = secretsKey.Apply(parse, transport.Apply(parse, new KilnServerOptions
            {
                DataDirectory = Path.GetFullPath(parse.GetValue(dataDir) ?? Env("KILN_DATA_DIR") ?? ".kiln"),
                Urls = parse.GetValue(urls) ?? Env("KILN_URLS") ?? "http://127.0.0.1:8080",
                WorkerToken = Env("KILN_WORKER_TOKEN"),
                HandleShutdownSignals = false,
            }));
            try
            {
                options = rateLimits.Apply(parse, options);
            }
            catch (CliException e)
            {
                return CliRun.Fail("up", e.Message, e.ExitCode);
            }
            if (ListenPolicy.Refusal(options) is { } refusal)
            {
                return CliRun.Fail("up", refusal, 2);
            }
            var demoFiles = parse.GetValue(demo) ? DemoFiles(parse.GetValue(examples)!) : null;
            if (demoFiles is { Count: 0 })
            {
                return CliRun.Fail("up", $"--demo found no workflow files (*.yaml) in '{parse.GetValue(examples)}'; run it from the repository root or pass --examples", 2);
            }
            return await RunAsync(options, parse.GetValue(workers), parse.GetValue(slots), demoFiles, parse.GetValue(exit), ct);
        });
        return command;
    }

    private static async Task<int> RunAsync(KilnServerOptions options, int workerCount, int slots, IReadOnlyList<string>? demoFiles, bool exitAfterDemo, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        Views.FitConsole();
        using var stopping = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            stopping.Cancel();
        }
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        // Before anything touches the data directory or the database: a second 'kiln up' on the same
        // directory would adopt the first one's cluster, re-register its workers and rewrite client.json.
        using var farmLock = FarmLock.TryAcquire(options.DataDirectory, out var holder);
        if (farmLock is null)
        {
            return CliRun.Fail("up", $"{options.DataDirectory} is in use by another farm ({(holder > 0 ? $"'kiln up' process {holder}" : "another process")} holds {FarmLock.FileName}); "
                + "stop that one, or use another --data-dir", 1);
        }
        if (ListenAddress.FirstBusy(options.Urls) is { } busy)
        {
            return CliRun.Fail("up", $"{busy} is already in use by another program; choose another address with --urls", 1);
        }

        KilnServerHost host;
        try
        {
            Views.Line($"Starting Kiln in [bold]{Markup.Escape(options.DataDirectory)}[/] …");
            host = await KilnServerHost.StartAsync(options, ct: ct);
        }
        catch (ListenRefusedException e)
        {
            return CliRun.Fail("up", e.Message, 2);
        }
        catch (Kiln.Store.Secrets.SecretKeyFileException e)
        {
            return CliRun.Fail("up", e.Message, 2);
        }
        catch (Exception e) when (e is ManagedPostgresException or Npgsql.NpgsqlException or IOException)
        {
            var message = e is IOException && e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase)
                ? $"{options.Urls} is already in use (another 'kiln up'?); choose another with --urls"
                : e.Message;
            return CliRun.Fail("up", message, 1);
        }

        await using (host)
        {
            // The tour's commands run as the farm's admin: kiln up's operator owns its data directory.
            var adminToken = await host.LocalAdminTokenAsync(ClientSettings.LocalToken(options.DataDirectory), ct);
            // The local workers enrol into the default pool (the token of DATA_DIR/worker-token, made anew if it is gone).
            var workerToken = await host.LocalWorkerTokenAsync(options, ct);
            ClientSettings.WriteLocal(options.DataDirectory, host.Url, adminToken, workerToken);
            var supervisor = new LocalWorkers(host.Url, workerToken, Path.Combine(options.DataDirectory, "workers"), slots);
            supervisor.Start(workerCount, stopping.Token);

            Views.Line($"[green]Kiln is up[/] at [bold link]{host.Url}[/] with {workerCount} local worker(s) ({started.Elapsed.TotalSeconds:0.0} s)");
            Views.Line($"  API description: {host.Url}/openapi/v1.json");
            Views.Line($"  Other machines:  KILN_TOKEN={workerToken} kiln worker --server {host.Url}");
            Views.Line("  Try:             kiln submit examples/hello-deb.yaml --watch   (from this directory)");
            Views.Line("  Press [bold]Ctrl-C[/] to stop; data stays in the data directory.");

            var exitCode = 0;
            if (demoFiles is not null)
            {
                exitCode = await RunDemoAsync(host.Url, adminToken, demoFiles, stopping.Token);
                if (exitAfterDemo)
                {
                    await stopping.CancelAsync();
                }
            }
            await Task.Delay(Timeout.Infinite, stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

            Views.Line("Stopping: workers report their running tasks for retry, then the server and database stop …");
            await supervisor.StopAsync(WorkerStopTimeout);
            Views.Line("Stopped.");
            return exitCode;
        }
    }

    private static async Task<int> RunDemoAsync(string url, string token, IReadOnlyList<string> files, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        using var client = new KilnClient(new Uri(url), token);
        var ids = new List<long>();
        try
        {
            foreach (var file in files)
            {
                var workflow = WorkflowFile.Load(file);
                var answer = await SubmitCommand.SubmitAsync(client, workflow, workflow.Document, ct);
                Views.Line($"Demo: submitted [bold]{Markup.Escape(file)}[/] as workflow {answer.Id} ({answer.WorkRequests} work requests)");
                ids.Add(answer.Id);
            }
            var views = await WorkflowWatcher.WatchAsync(client, ids, json: false, TimeProvider.System, ct);
            var code = WorkflowWatcher.ExitCode(views);
            Views.Line(code == 0
                ? $"[green]Demo finished: {views.Count} workflow(s) succeeded in {started.Elapsed.TotalSeconds:0.0} s.[/] Inspect: kiln show {ids[0]} · kiln logs {ids[0]}/publish"
                : $"[red]Demo finished with failures in {started.Elapsed.TotalSeconds:0.0} s.[/] Inspect: kiln show {string.Join(", ", ids)}");
            return code;
        }
        catch (Exception e) when (e is CliException or WorkflowFileException or KilnApiException or HttpRequestException)
        {
            return CliRun.Fail("up", $"demo: {e.Message}", 1);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return 1;
        }
    }

    /// <summary>
    /// The demo's workflow files: those that run on any worker as they are. Files whose jobs run in an
    /// environment (the packaging examples) need one made first, so they are named and left out.
    /// </summary>
    private static List<string> DemoFiles(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return [];
        }
        var files = new List<string>();
        foreach (var file in Directory.EnumerateFiles(directory, "*.yaml").Concat(Directory.EnumerateFiles(directory, "*.yml")).Order(StringComparer.Ordinal))
        {
            if (File.ReadLines(file).Any(l => l.TrimStart().StartsWith("environment:", StringComparison.Ordinal)))
            {
                Views.Line($"  (demo leaves out {file}: its jobs run in an environment; see docs/packaging.md)");
                continue;
            }
            files.Add(file);
        }
        return files;
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    /// <summary>The local worker processes of <c>kiln up</c>: started as <c>kiln worker</c> children, restarted when one dies.</summary>
    private sealed class LocalWorkers(string url, string token, string workRoot, int slots)
    {
        private static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(2);
        private readonly List<Task> _supervisors = [];
        private readonly Lock _gate = new();
        private readonly HashSet<Process> _running = [];

        public void Start(int count, CancellationToken stopping)
        {
            for (var i = 1; i <= count; i++)
            {
                var name = $"{Environment.MachineName}-{i}".ToLowerInvariant();
                var workDir = Path.Combine(workRoot, i.ToString(CultureInfo.InvariantCulture));
                _supervisors.Add(Task.Run(() => SuperviseAsync(name, workDir, stopping), CancellationToken.None));
            }
        }

        private async Task SuperviseAsync(string name, string workDir, CancellationToken stopping)
        {
            while (!stopping.IsCancellationRequested)
            {
                using var process = Process.Start(StartInfo(name, workDir))!;
                lock (_gate)
                {
                    _running.Add(process);
                }
                await process.WaitForExitAsync(CancellationToken.None);
                lock (_gate)
                {
                    _running.Remove(process);
                }
                if (stopping.IsCancellationRequested)
                {
                    return;
                }
                Views.Line($"[yellow]worker {name} exited with code {process.ExitCode}; restarting it[/]");
                await Task.Delay(RestartDelay, CancellationToken.None);
            }
        }

        private ProcessStartInfo StartInfo(string name, string workDir)
        {
            // Run the same program this process is: the apphost, or 'dotnet kiln.dll'.
            var self = Environment.ProcessPath!;
            var psi = new ProcessStartInfo(self) { UseShellExecute = false, RedirectStandardInput = true };
            if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                psi.ArgumentList.Add(typeof(UpCommand).Assembly.Location);
            }
            foreach (var arg in (string[])["worker", "--server", url, "--name", name, "--slots", slots.ToString(CultureInfo.InvariantCulture),
                         "--work-dir", workDir, "--parent-pid", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), "--stop-on-stdin-close"])
            {
                psi.ArgumentList.Add(arg);
            }
            // The token goes by environment, not argv, so that 'ps' does not show it.
            psi.Environment["KILN_TOKEN"] = token;
            return psi;
        }

        public async Task StopAsync(TimeSpan timeout)
        {
            List<Process> running;
            lock (_gate)
            {
                running = [.. _running];
            }
            // Closing a worker's stdin means "stop now and report" (signals would be fragile here: a
            // shell starting 'kiln up' in the background leaves SIGINT ignored in its children, and two
            // SIGTERMs sent together can merge into one).
            foreach (var process in running.Where(p => !p.HasExited))
            {
                try
                {
                    process.StandardInput.Close();
                }
                catch (Exception e) when (e is IOException or InvalidOperationException)
                {
                    // Already gone.
                }
            }
            using var deadline = new CancellationTokenSource(timeout);
            try
            {
                await Task.WhenAll(_supervisors).WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                foreach (var process in running.Where(p => !p.HasExited))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
    }
}
