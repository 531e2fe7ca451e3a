using Kiln.Store.Database;
using Kiln.Store.Engine;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Duties;

/// <summary>
/// Ends attempts whose lease or deadline passed, in batches of 100 until none is left (or this
/// replica stops leading). Safe even if two replicas ever ran it at once: every ended attempt is
/// fenced by its row lock and lease token.
/// </summary>
public sealed partial class LeaseReaperDuty(LeaseReaper reaper, ILogger<LeaseReaperDuty> logger) : ILeaderDuty
{
    private const int ReaperBatch = 100;

    public string Name => "lease reaper";

    public async Task RunAsync(LeaderLease leader, CancellationToken ct)
    {
        int ended;
        do
        {
            if (!leader.MayRunDuties)
            {
                return;
            }
            ended = await reaper.ReapExpiredAsync(ReaperBatch, ct);
            if (ended > 0)
            {
                LogReaped(logger, ended, leader.Fence ?? 0);
            }
        }
        while (ended == ReaperBatch);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Lease reaper ended {Count} expired attempt(s) (leader fence {Fence})")]
    private static partial void LogReaped(ILogger logger, int count, long fence);
}
