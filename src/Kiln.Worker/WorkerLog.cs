using Microsoft.Extensions.Logging;

namespace Kiln.Worker;

/// <summary>The worker's log messages, source-generated.</summary>
internal static partial class WorkerLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Registered as worker {WorkerId} '{Name}' ({Architectures}; queues {Queues}; {Slots} slot(s), prefetch {Prefetch}) with {Server}")]
    public static partial void Registered(ILogger logger, long workerId, string name, string architectures, string queues, int slots, int prefetch, Uri server);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Waiting for approval: this worker's pool requires it, and it gets no work until an admin runs 'kiln worker approve {Name}'")]
    public static partial void AwaitingApproval(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "Approved: claiming work")]
    public static partial void Approved(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot reach the server for {What} ({Reason}); retrying in {Delay:0.0} s")]
    public static partial void Retrying(ILogger logger, string what, string reason, double delay);

    [LoggerMessage(Level = LogLevel.Information, Message = "Started work request {WorkRequestId} '{Name}' (workflow {WorkflowId}, attempt {Attempt})")]
    public static partial void Started(ILogger logger, long workRequestId, string name, long workflowId, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Work request {WorkRequestId} '{Name}' ended: {Outcome} ({Message}); server recorded {State}")]
    public static partial void Reported(ILogger logger, long workRequestId, string name, string outcome, string message, string state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work request {WorkRequestId}: the server refused the report: {Reason}")]
    public static partial void ReportRefused(ILogger logger, long workRequestId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work request {WorkRequestId}: lease lost; the task was stopped and its result will not be reported")]
    public static partial void LeaseLost(ILogger logger, long workRequestId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Work request {WorkRequestId}: cancel requested; stopping its processes")]
    public static partial void CancelRequested(ILogger logger, long workRequestId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Work request {WorkRequestId} could not run")]
    public static partial void TaskCrashed(ILogger logger, Exception exception, long workRequestId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Draining: finishing {Running} running task(s), claiming nothing new (signal again to cancel them)")]
    public static partial void Draining(ILogger logger, int running);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutting down now: stopping {Running} running task(s) and reporting them for retry")]
    public static partial void Aborting(ILogger logger, int running);

    [LoggerMessage(Level = LogLevel.Information, Message = "Killed {Count} task process group(s) left running by an earlier worker in {Directory}")]
    public static partial void KilledOrphans(ILogger logger, int count, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat failed ({Reason}); tasks keep running, retrying")]
    public static partial void HeartbeatFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The parent process {ParentPid} is gone; shutting down")]
    public static partial void ParentGone(ILogger logger, int parentPid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker stopped")]
    public static partial void Stopped(ILogger logger);
}
