using System.Globalization;
using System.Net;
using System.Text;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Worker.Isolation;
using Microsoft.Extensions.Logging;

namespace Kiln.Worker;

/// <summary>
/// One claimed attempt, start to report: a fresh directory, the inputs, the script as a child
/// process group with the job's timeout, the log shipped while it runs, the outputs uploaded,
/// then the result reported until acknowledged. The agent's control loop stops it from outside
/// (<see cref="Stop"/>) when the server says cancel or lost, or when the worker shuts down.
/// </summary>
internal sealed class TaskRun : IDisposable
{
    public const string PidFileName = "pgid";

    /// <summary>No byte-order mark: the log is a byte stream, and the task's own output follows.</summary>
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly KilnClient _client;
    private readonly ReportSender _reports;
    private readonly WorkerOptions _options;
    private readonly RetryPolicy _retry;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    /// <summary>The job's secret values, masked in the log the server gets and in the reported message.</summary>
    private readonly SecretMasker _masker;
    private int _reason = (int)StopReason.None;

    /// <param name="slot">The slot it runs in (0 … slots − 1): with <see cref="WorkerOptions.TaskUidBase"/>, its uid.</param>
    /// <param name="environments">The worker's environment cache (null: one for <paramref name="options"/>, made when needed).</param>
    public TaskRun(Assignment task, KilnClient client, ReportSender reports, WorkerOptions options, RetryPolicy retry, ILogger logger, TimeProvider time, int slot = 0,
        EnvironmentCache? environments = null)
    {
        _environments = environments;
        Slot = slot;
        _uid = options.TaskUidBase + slot;
        Task = task;
        _client = client;
        _reports = reports;
        _options = options;
        _retry = retry;
        _logger = logger;
        _time = time;
        Directory = Path.Combine(options.WorkDirectory, "tasks", $"{task.WorkRequestId}-{task.Attempt}");
        _masker = new SecretMasker(task.Secrets?.Values ?? []);
    }

    public Assignment Task { get; }

    public int Slot { get; }

    private readonly int? _uid;

    private EnvironmentCache? _environments;

    public LeaseRef Lease => new(Task.WorkRequestId, Task.LeaseToken);

    public string Directory { get; }

    private string WorkDirectory => Path.Combine(Directory, "work");

    private string Spool => Path.Combine(Directory, "output.log");

    private StopReason Reason => (StopReason)Volatile.Read(ref _reason);

    /// <summary>Stops the task for <paramref name="reason"/>; the first reason wins.</summary>
    public void Stop(StopReason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, (int)StopReason.None) == (int)StopReason.None)
        {
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The task ended while the heartbeat answer was on its way.
            }
        }
    }

    /// <param name="hardStop">Gives up even on reporting: the worker is exiting regardless.</param>
    public async Task RunAsync(CancellationToken hardStop)
    {
        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        System.IO.Directory.CreateDirectory(WorkDirectory);
        if (!OperatingSystem.IsWindows())
        {
            // Other users cannot look into a task's directory. Tasks of this worker run as its user
            // unless each slot has its own uid (TaskUidBase): then the directory is that uid's alone.
            File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        WorkerLog.Started(_logger, Task.WorkRequestId, Task.Name, Task.WorkflowId, Task.Attempt);

        var shipper = new LogShipper(_client, Task, Spool, _retry, _time, _masker);
        using var shipping = new CancellationTokenSource();
        var shipped = shipper.RunAsync(shipping.Token);
        var outcome = await ExecuteAsync(hardStop);

        Note($"result: {outcome.Kind} ({outcome.Message})");
        await shipping.CancelAsync();
        await shipped;
        if (outcome.Kind == "lost")
        {
            WorkerLog.LeaseLost(_logger, Task.WorkRequestId);
        }
        else
        {
            try
            {
                await shipper.FinishAsync(_options.FlushPatience, hardStop);
                await ReportAsync(outcome, shipper.Stopped, hardStop);
            }
            catch (OperationCanceledException) when (hardStop.IsCancellationRequested)
            {
                // Exiting regardless: the lease will expire and the server retries the work.
            }
        }
        TryDelete(Directory);
    }

    private async Task<TaskOutcome> ExecuteAsync(CancellationToken hardStop)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Task.TimeoutSeconds), _time);
        using var stopOrTimeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timeout.Token, hardStop);
        var transfer = new ArtifactTransfer(_client, _retry, _options.FlushPatience);
        try
        {
            Note($"work request {Task.WorkRequestId} '{Task.Name}', attempt {Task.Attempt}, on worker {_options.Name}");
            if (PublishStep.Handles(Task))
            {
                var published = await PublishStep.RunAsync(_client, Task, Note, stopOrTimeout.Token);
                return Stopped(timeout) ?? published;
            }
            if (OperatingSystem.IsWindows())
            {
                return TaskOutcome.Error($"worker {_options.Name} runs tasks on Linux only (setsid, namespaces)");
            }
            return await RunScriptAsync(transfer, timeout, stopOrTimeout);
        }
        catch (OperationCanceledException) when (stopOrTimeout.IsCancellationRequested)
        {
            return Stopped(timeout) ?? TaskOutcome.Error("stopped");
        }
        catch (KilnApiException e) when (e.Status is HttpStatusCode.Conflict)
        {
            return TaskOutcome.Lost();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or KilnApiException or InvalidDataException
                                      or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            WorkerLog.TaskCrashed(_logger, e, Task.WorkRequestId);
            Note($"the worker could not run the task: {e.Message}");
            return TaskOutcome.Error($"worker {_options.Name} could not run the task: {e.Message}");
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private async Task<TaskOutcome> RunScriptAsync(ArtifactTransfer transfer, CancellationTokenSource timeout, CancellationTokenSource stopOrTimeout)
    {
        EnvironmentLease? environment = null;
        IsolatedJob? isolated = null;
        try
        {
            var execution = Task.Execution;
            if (execution?.Environment is { } wanted)
            {
                var ids = SubordinateIdsOrThrow();
                _environments ??= new EnvironmentCache(_options.EnvironmentCacheDirectory, _options.EnvironmentCacheBytes, ids, _logger, _time);
                environment = await _environments.AcquireAsync(wanted, (from, into, c) => _client.DownloadEnvironmentAsync(wanted.Sha256, from, into, c), Note, stopOrTimeout.Token);
                if (!execution.OnHost)
                {
                    isolated = await IsolatedJob.PrepareAsync(_options, Directory, $"{Task.WorkRequestId}-{Task.Attempt}", environment, execution, ids, _logger, Task.WorkRequestId, _time);
                }
            }
            var work = isolated?.WorkDirectory ?? WorkDirectory;
            var resultDirectory = isolated?.KilnDirectory ?? Directory;
            await transfer.DownloadInputsAsync(Task, work, Note, stopOrTimeout.Token);

            var script = isolated?.ScriptFile ?? Path.Combine(Directory, "script.sh");
            await File.WriteAllTextAsync(script, Task.Run, stopOrTimeout.Token);
            if (isolated is not null)
            {
                // Inputs and script were written by the worker; they belong to the job's root (the mapped ids).
                Posix.ChownTree(isolated.KilnDirectory, SubordinateIdsOrThrow().Start);
            }
            else if (_uid is { } uid)
            {
                // The inputs were downloaded, and the spool and script written, by the worker; the
                // task's user gets the whole directory. Nothing in it is the task's doing yet.
                Posix.ChownTree(Directory, uid);
            }
            int exitCode;
            var pidFile = Path.Combine(Directory, PidFileName);
            using (var process = isolated is not null
                ? TaskProcess.StartCommand([.. isolated.Command, Spool], Directory, pidFile, Environment(isolated, null), cleanEnvironment: true)
                : TaskProcess.Start(script, WorkDirectory, Spool, pidFile, Environment(null, environment?.Tarball), _uid))
            {
                try
                {
                    await process.WaitForExitAsync(stopOrTimeout.Token);
                    process.KillLeftovers();
                }
                catch (OperationCanceledException) when (stopOrTimeout.IsCancellationRequested)
                {
                    await process.StopAsync(_options.KillGrace, _time);
                }
                exitCode = process.ExitCode;
            }
            string? limitHit = null;
            if (isolated is not null)
            {
                IsolationLog.IsolatedStart(_logger, Task.WorkRequestId, $"{Task.Execution!.Environment!.Name} v{Task.Execution.Environment.Version}", isolated.RootMode, isolated.DiskKind, isolated.LimitsBy);
                Note($"ran in environment {Task.Execution.Environment.Name} v{Task.Execution.Environment.Version}: root by {isolated.RootMode}, disk on {isolated.DiskKind}, limits by {isolated.LimitsBy}");
                limitHit = exitCode == 0 ? null
                    : isolated.LimitHit(Task.Execution.Limits ?? JobLimits.Default)
                    ?? (isolated.DiskFull() ? $"the job's disk is full ({(Task.Execution.Limits ?? JobLimits.Default).DiskBytes} bytes, requires.disk); writes beyond it were refused" : null);
                if (limitHit is not null)
                {
                    Note(limitHit);
                }
                // Nothing of the job may still run (or write) while its outputs are read.
                await isolated.KillAllAsync();
            }

            if (Stopped(timeout) is { } stopped)
            {
                return stopped;
            }
            var resultProblem = await ResultFile.UploadAsync(_client, _retry, Task, resultDirectory, _options.FlushPatience, Note, stopOrTimeout.Token);
            var refused = await UploadOutputsAsync(transfer, work, exitCode == 0 && resultProblem is null, stopOrTimeout.Token);
            return refused is not null ? TaskOutcome.Failed(exitCode, refused)
                : exitCode != 0 ? TaskOutcome.Failed(exitCode, limitHit is null ? $"exit code {exitCode}" : $"exit code {exitCode}: {limitHit}")
                : resultProblem is not null ? TaskOutcome.Failed(exitCode, resultProblem)
                : TaskOutcome.Succeeded();
        }
        finally
        {
            if (isolated is not null)
            {
                await isolated.DisposeAsync();
            }
            environment?.Dispose();
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private SubordinateIds SubordinateIdsOrThrow()
    {
        if (!System.Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("jobs in an environment need the worker to run as root (for their cgroups and disks; docs/worker.md)");
        }
        var (ids, problem) = SubordinateIds.ForCurrentUser();
        return ids ?? throw new InvalidOperationException(problem);
    }

    private TaskOutcome? Stopped(CancellationTokenSource timeout) => Reason switch
    {
        StopReason.Cancelled => TaskOutcome.Cancelled(),
        StopReason.Lost => TaskOutcome.Lost(),
        StopReason.Shutdown => TaskOutcome.Error($"worker {_options.Name} shut down while the task ran"),
        _ when timeout.IsCancellationRequested => TaskOutcome.TimedOut(Task.TimeoutSeconds),
        _ => null,
    };

    /// <returns>Why an output was refused for the task's own fault (it then fails), or null.</returns>
    private async Task<string?> UploadOutputsAsync(ArtifactTransfer transfer, string work, bool succeeded, CancellationToken ct)
    {
        var outputs = OutputFiles.Match(work, Task.Outputs);
        if (Task.Outputs.Count > 0 && outputs.Count == 0 && succeeded)
        {
            Note($"warning: no file matched the outputs {string.Join(", ", Task.Outputs)}");
        }
        foreach (var output in outputs)
        {
            try
            {
                await transfer.UploadAsync(Task, work, output, ct);
            }
            catch (KilnApiException e) when (ArtifactTransfer.IsTaskProblem(e))
            {
                Note($"output '{output}' was refused: {e.Message}");
                return $"output '{output}' was refused: {e.Message}";
            }
            catch (OutputRefusedException e)
            {
                Note($"output refused: {e.Message}");
                return $"output refused: {e.Message}";
            }
        }
        if (outputs.Count > 0)
        {
            Note($"uploaded {outputs.Count} output file(s)");
        }
        return null;
    }

    private async Task ReportAsync(TaskOutcome outcome, string? logProblem, CancellationToken ct)
    {
        var final = logProblem is null ? outcome : outcome with { Message = $"{outcome.Message}; {logProblem}" };
        // A message can quote what the task made (an output's name, a server's answer about it).
        final = final with { Message = _masker.Mask(final.Message) };
        try
        {
            var answer = await _reports.SendAsync(final.ToReport(Task), ct);
            WorkerLog.Reported(_logger, Task.WorkRequestId, Task.Name, final.Kind, final.Message, answer.State);
        }
        catch (KilnApiException e)
        {
            WorkerLog.ReportRefused(_logger, Task.WorkRequestId, e.Message);
        }
    }

    /// <param name="isolated">The job's environment executor, or null on the host.</param>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    /// <param name="tarball">For a kind run on the host with an environment: the cached, verified tarball.</param>
    private Dictionary<string, string> Environment(IsolatedJob? isolated, string? tarball)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (isolated is not null)
        {
            // Inside, nothing of the worker's environment: a plain root's.
            env["PATH"] = IsolatedLaunch.Path;
            env["HOME"] = "/root";
            env["LANG"] = "C.UTF-8";
        }
        foreach (var (key, value) in Task.Env)
        {
            env[key] = value;
        }
        // After the job's env (a secret wins over a plain value of the same name), before Kiln's own variables (which nothing overrides).
        foreach (var (name, value) in Task.Secrets ?? new Dictionary<string, string>())
        {
            env[name] = value;
        }
        env["KILN_WORK_REQUEST_ID"] = Task.WorkRequestId.ToString(CultureInfo.InvariantCulture);
        env["KILN_WORKFLOW_ID"] = Task.WorkflowId.ToString(CultureInfo.InvariantCulture);
        env["KILN_JOB"] = Task.Name;
        env["KILN_ATTEMPT"] = Task.Attempt.ToString(CultureInfo.InvariantCulture);
        env["KILN_WORKSPACE"] = isolated is null ? WorkDirectory : IsolatedLaunch.JobWorkDirectory;
        env["KILN_RESULT_FILE"] = isolated is null ? Path.Combine(Directory, ResultFile.Name) : IsolatedLaunch.JobResultFile;
        env["KILN_WORKER"] = _options.Name;
        // kinds fetch public things from the server: the project's repository and key, source uploads
        env["KILN_SERVER_URL"] = _options.Server.ToString().TrimEnd('/');
        if (tarball is not null)
        {
            env["KILN_ENVIRONMENT_TARBALL"] = tarball;
        }
        if (isolated is null && _uid is not null)
        {
            // The worker's HOME (root's) is closed to the task's user.
            env["HOME"] = WorkDirectory;
        }
        return env;
    }

    /// <summary>A line from the worker in the task's log. Written only while the script is not running, so lines never interleave.</summary>
    private void Note(string message)
    {
        try
        {
            File.AppendAllText(Spool, $"[kiln] {message}\n", Utf8);
        }
        catch (IOException)
        {
            // A note is a courtesy; the report carries what matters.
        }
    }

    public void Dispose() => _stop.Dispose();

    private static void TryDelete(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Cleaned at the next start.
        }
    }
}
