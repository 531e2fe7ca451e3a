using System.Globalization;
using System.Net;
using System.Text;
using Kiln.Contracts;
using Kiln.Core;
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
    public TaskRun(Assignment task, KilnClient client, ReportSender reports, WorkerOptions options, RetryPolicy retry, ILogger logger, TimeProvider time, int slot = 0)
    {
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
            await transfer.DownloadInputsAsync(Task, WorkDirectory, Note, stopOrTimeout.Token);

            var script = Path.Combine(Directory, "script.sh");
            await File.WriteAllTextAsync(script, Task.Run, stopOrTimeout.Token);
            if (_uid is { } uid)
            {
                // The inputs were downloaded, and the spool and script written, by the worker; the
                // task's user gets the whole directory. Nothing in it is the task's doing yet.
                Posix.ChownTree(Directory, uid);
            }
            int exitCode;
            using (var process = TaskProcess.Start(script, WorkDirectory, Spool, Path.Combine(Directory, PidFileName), Environment(), _uid))
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

            if (Stopped(timeout) is { } stopped)
            {
                return stopped;
            }
            var refused = await UploadOutputsAsync(transfer, exitCode == 0, stopOrTimeout.Token);
            return refused is not null ? TaskOutcome.Failed(exitCode, refused)
                : exitCode == 0 ? TaskOutcome.Succeeded()
                : TaskOutcome.Failed(exitCode, $"exit code {exitCode}");
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

    private TaskOutcome? Stopped(CancellationTokenSource timeout) => Reason switch
    {
        StopReason.Cancelled => TaskOutcome.Cancelled(),
        StopReason.Lost => TaskOutcome.Lost(),
        StopReason.Shutdown => TaskOutcome.Error($"worker {_options.Name} shut down while the task ran"),
        _ when timeout.IsCancellationRequested => TaskOutcome.TimedOut(Task.TimeoutSeconds),
        _ => null,
    };

    /// <returns>Why an output was refused for the task's own fault (it then fails), or null.</returns>
    private async Task<string?> UploadOutputsAsync(ArtifactTransfer transfer, bool succeeded, CancellationToken ct)
    {
        var outputs = OutputFiles.Match(WorkDirectory, Task.Outputs);
        if (Task.Outputs.Count > 0 && outputs.Count == 0 && succeeded)
        {
            Note($"warning: no file matched the outputs {string.Join(", ", Task.Outputs)}");
        }
        foreach (var output in outputs)
        {
            try
            {
                await transfer.UploadAsync(Task, WorkDirectory, output, ct);
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

    private Dictionary<string, string> Environment()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
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
        env["KILN_WORKSPACE"] = WorkDirectory;
        env["KILN_WORKER"] = _options.Name;
        if (_uid is not null)
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
