using Kiln.Store.Database;
using Kiln.Store.Engine;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Duties;

/// <summary>
/// Cancels the unfinished work of workflows whose <c>timeout</c> has passed, 50 at a time until
/// none is left (or this replica stops leading). Each tick (1 s) bounds how late a timeout acts.
/// Safe if two replicas ever ran it at once: the cancel locks its rows and a second cancel finds
/// nothing left.
/// </summary>
public sealed partial class WorkflowTimeoutDuty(WorkflowTimeouts timeouts, ILogger<WorkflowTimeoutDuty> logger) : ILeaderDuty
{
    private const int Batch = 50;

    public string Name => "workflow timeouts";

    public async Task RunAsync(LeaderLease leader, CancellationToken ct)
    {
        int cancelled;
        do
        {
            if (!leader.MayRunDuties)
            {
                return;
            }
            cancelled = await timeouts.CancelExpiredAsync(Batch, ct);
            if (cancelled > 0)
            {
                LogTimedOut(logger, cancelled);
            }
        }
        while (cancelled == Batch);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Cancelled {Count} workflow(s) past their timeout")]
    private static partial void LogTimedOut(ILogger logger, int count);
}
