using System.CommandLine;
using System.Runtime.InteropServices;
using Kiln.Contracts;
using Kiln.Worker;
using Microsoft.Extensions.Logging;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln worker</c>: run tasks for a server. Signals: SIGTERM drains (running tasks finish,
/// nothing new is claimed); a second SIGTERM, or SIGINT (Ctrl-C), stops running tasks and
/// reports them for retry elsewhere; reports get <see cref="ReportGrace"/> before the worker
/// exits regardless (a third signal exits at once).
/// </summary>
public static class WorkerCommand
{
    private static readonly TimeSpan ReportGrace = TimeSpan.FromSeconds(30);

    public static Command Create()
    {
        var server = ClientSettings.ServerOption();
        var tokenFile = new Option<string?>("--token-file")
        {
            Description = "File holding a registration token of the worker's pool (default: $KILN_TOKEN, else the config file)",
        };
        // Refused with a clear message: a secret in argv is shown by 'ps' to every user and task on the machine.
        var token = new Option<string?>("--token") { Description = "Refused: use --token-file or KILN_TOKEN", Hidden = true };
        var flush = new Option<double>("--flush-timeout-seconds")
        {
            Description = "How long to repeat log and output writes the server answers with errors (e.g. 507 storage full) before reporting without them",
            DefaultValueFactory = _ => 60,
        };
        var name = new Option<string?>("--name") { Description = "Worker name, unique in the farm (default: the host name)" };
        var slots = new Option<int>("--slots") { Description = "Tasks to run at once", DefaultValueFactory = _ => 1 };
        var prefetch = new Option<int>("--prefetch")
        {
            Description = "Claim up to N more than free slots and start them without a round trip (for many short tasks; 0 for builds)",
            DefaultValueFactory = _ => 0,
        };
        var architectures = new Option<string[]>("--arch") { Description = "Architectures to build for (default: this machine's), repeatable", AllowMultipleArgumentsPerToken = true };
        var tags = new Option<string[]>("--tag") { Description = "Capability tags (e.g. kvm), repeatable", AllowMultipleArgumentsPerToken = true };
        var queues = new Option<string[]>("--queue") { Description = "Queues to serve (default: builds, environments and publish), repeatable", AllowMultipleArgumentsPerToken = true };
        var workDir = new Option<string?>("--work-dir") { Description = "Directory for task working directories (default: $TMPDIR/kiln-worker-NAME)" };
        var grace = new Option<double>("--kill-grace-seconds") { Description = "Between SIGTERM and SIGKILL when stopping a task", DefaultValueFactory = _ => 2 };
        var parent = new Option<int?>("--parent-pid") { Description = "Exit when this process ends (used by 'kiln up')", Hidden = true };
        var stdinStop = new Option<bool>("--stop-on-stdin-close") { Description = "Stop now (as on SIGINT) when standard input closes (used by 'kiln up')", Hidden = true };
        var userPerSlot = new Option<bool>("--task-user-per-slot")
        {
            Description = "Run each slot's tasks as their own uid/gid (--task-uid-base + slot), so a task cannot write into another's directory or read the worker's secrets; needs root",
        };
        var uidBase = new Option<int>("--task-uid-base") { Description = "First uid/gid for --task-user-per-slot (slot n runs as base + n)", DefaultValueFactory = _ => 64000 };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log more" };

        var command = new Command("worker", "Run tasks for a Kiln server (outbound HTTP only).")
        {
            server, tokenFile, token, flush, name, slots, prefetch, architectures, tags, queues, workDir, grace, parent, stdinStop, userPerSlot, uidBase, verbose,
        };
        command.Subcommands.Add(WorkerOperatorCommands.Disable());
        command.Subcommands.Add(WorkerOperatorCommands.Enable());
        command.Subcommands.Add(WorkerOperatorCommands.Remove());
        command.Subcommands.Add(WorkerOperatorCommands.Approve());
        command.Subcommands.Add(WorkerTokenCommands.Create());
        command.SetAction((parse, ct) => CliRun.GuardAsync("worker", parse.GetValue(server), async url =>
        {
            if (parse.GetValue(token) is not null)
            {
                throw new CliException("--token would show the secret to every process on this machine ('ps'); pass it in KILN_TOKEN or in a file with --token-file", 2);
            }
            var registration = ReadToken(parse.GetValue(tokenFile))
                ?? throw new CliException("a registration token is needed: --token-file FILE or KILN_TOKEN (kiln server and kiln up print it)", 2);
            // From here on, the token is in this process's memory only, and that is closed to its tasks.
            if (WorkerSecrets.Seal() is { } unsealed)
            {
                Console.Error.WriteLine($"warning: {unsealed}");
            }
            if (parse.GetValue(flush) is <= 0 or > 86_400)
            {
                throw new CliException("--flush-timeout-seconds must be more than 0 and at most 86400", 2);
            }
            if (!File.Exists("/usr/bin/setsid") && !File.Exists("/bin/setsid"))
            {
                throw new CliException("the worker needs 'setsid' (util-linux) to run tasks in their own process group; install util-linux");
            }
            if (parse.GetValue(prefetch) is < 0 or > 64)
            {
                throw new CliException("--prefetch must be 0 to 64", 2);
            }
            var workerName = parse.GetValue(name) ?? Environment.MachineName;
            var workDirectory = Path.GetFullPath(parse.GetValue(workDir) ?? Path.Combine(Path.GetTempPath(), $"kiln-worker-{workerName}"));
            int? taskUidBase = parse.GetValue(userPerSlot) ? TaskUidBase(parse.GetValue(uidBase), parse.GetValue(slots), workDirectory) : null;
            var options = new WorkerOptions
            {
                Server = url,
                RegistrationToken = registration,
                Name = workerName,
                Slots = parse.GetValue(slots),
                Prefetch = parse.GetValue(prefetch),
                Architectures = parse.GetValue(architectures) is { Length: > 0 } a ? a : [WorkerOptions.NativeArchitecture()],
                Tags = parse.GetValue(tags) ?? [],
                Queues = parse.GetValue(queues) is { Length: > 0 } q ? q : WorkerOptions.DefaultQueues,
                WorkDirectory = workDirectory,
                TaskUidBase = taskUidBase,
                KillGrace = TimeSpan.FromSeconds(parse.GetValue(grace)),
                FlushPatience = TimeSpan.FromSeconds(parse.GetValue(flush)),
                ParentProcessId = parse.GetValue(parent),
            };
            using var loggers = LoggerFactory.Create(b => b
                .SetMinimumLevel(parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information)
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
                .AddFilter("System.Net.Http", LogLevel.Warning));
            var logger = loggers.CreateLogger($"kiln.worker.{workerName}");

            using var agent = new WorkerAgent(options, logger);
            using var hardStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var signals = 0;
            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                var count = Interlocked.Increment(ref signals);
                if (count >= 3)
                {
                    hardStop.Cancel();
                }
                else if (context.Signal == PosixSignal.SIGTERM && count == 1)
                {
                    agent.Drain();
                }
                else
                {
                    agent.Abort();
                    hardStop.CancelAfter(ReportGrace);
                }
            }
            using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            if (parse.GetValue(stdinStop))
            {
                _ = Task.Run(async () =>
                {
                    await using var stdin = Console.OpenStandardInput();
                    var buffer = new byte[256];
                    while (await stdin.ReadAsync(buffer, hardStop.Token) > 0)
                    {
                    }
                    agent.Abort();
                    hardStop.CancelAfter(ReportGrace);
                }, CancellationToken.None);
            }
            try
            {
                await agent.RunAsync(hardStop.Token);
            }
            catch (KilnApiException e) when (e.Status == System.Net.HttpStatusCode.Unauthorized)
            {
                throw new CliException($"the server at {url} refused the registration token ({e.Message}); "
                    + "give the token 'kiln server' or 'kiln up' printed, in the KILN_TOKEN environment variable or the worker's token file option");
            }
            return 0;
        }));
        return command;
    }

    /// <summary>The token from <paramref name="file"/> (first line, trimmed), else <c>KILN_TOKEN</c>, else the config file.</summary>
    private static string? ReadToken(string? file)
    {
        if (file is null)
        {
            return ClientSettings.Token(null);
        }
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--token-file {file}: {e.Message}", 2);
        }
        var line = text.Split('\n', 2)[0].Trim();
        return line.Length > 0 ? line : throw new CliException($"--token-file {file} is empty", 2);
    }
    /// <summary>Checks what <c>--task-user-per-slot</c> needs: root, setpriv, sane uids, and a work directory the task users can reach.</summary>
    private static int TaskUidBase(int uidBase, int slots, string workDirectory)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new CliException("--task-user-per-slot needs the worker to run as root (it starts each task as another uid)", 2);
        }
        if (!File.Exists("/usr/bin/setpriv") && !File.Exists("/bin/setpriv"))
        {
            throw new CliException("--task-user-per-slot needs 'setpriv' (util-linux); install util-linux");
        }
        if (uidBase < 1000 || (long)uidBase + slots > 65_534)
        {
            throw new CliException("--task-uid-base must be at least 1000, and base + slots below 65534 (nobody)", 2);
        }
        // Each existing ancestor must let other users pass (x), or the tasks could not reach their own directory.
        for (var dir = new DirectoryInfo(workDirectory); dir is not null; dir = dir.Parent)
        {
            if (dir.Exists && (dir.UnixFileMode & UnixFileMode.OtherExecute) == 0)
            {
                throw new CliException($"--task-user-per-slot: {dir.FullName} is closed to other users (no o+x), so tasks could not reach their directories under {workDirectory}", 2);
            }
        }
        return uidBase;
    }
}
