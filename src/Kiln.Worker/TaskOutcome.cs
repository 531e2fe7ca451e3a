using Kiln.Contracts;

namespace Kiln.Worker;

/// <summary>Why a task stopped before its script ended on its own.</summary>
internal enum StopReason
{
    None,
    /// <summary>The server asked (a user cancelled): report <c>cancelled</c>.</summary>
    Cancelled,
    /// <summary>The lease is gone: the server will refuse any report; just stop.</summary>
    Lost,
    /// <summary>The worker is shutting down (second signal): report through <c>fail</c>, so the work is retried elsewhere.</summary>
    Shutdown,
}

/// <summary>How an attempt ended, as the worker will report it.</summary>
internal sealed record TaskOutcome(string Kind, int? ExitCode, string Message)
{
    public static TaskOutcome Succeeded() => new("succeeded", 0, "exit code 0");
    public static TaskOutcome Failed(int exitCode, string message) => new("failed", exitCode, message);
    public static TaskOutcome Cancelled() => new("cancelled", null, "cancelled on request");
    /// <summary>An infrastructure error (shutdown, a transfer that could not be done): reported through <c>fail</c>, retried automatically.</summary>
    public static TaskOutcome Error(string reason) => new("error", null, reason);
    public static TaskOutcome Lost() => new("lost", null, "the lease was lost");
    /// <summary>Killed at the job's timeout: reported as <c>timed-out</c>, which the server retries automatically.</summary>
    public static TaskOutcome TimedOut(int seconds) => new("timed-out", null, $"timed out after {seconds} s; the task's processes were killed");

    /// <summary>The report as sent; an <c>error</c> is the batch's form of <c>fail</c>.</summary>
    public WorkerReport ToReport(Assignment task) => new(task.WorkRequestId, task.LeaseToken, Kind, ExitCode, Message);
}
