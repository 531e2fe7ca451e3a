using Kiln.Server.Hosting;
using Kiln.Store.Database;
using Kiln.Store.Engine;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Server.Duties;

/// <summary>
/// Runs the exactly-one background duties on whichever replica holds the <see cref="LeaderLock"/>.
/// Every <see cref="KilnServerOptions.DutyInterval"/> (1 s by default) it confirms or takes
/// leadership, then, if leading, runs the lease reaper in batches of 100 until nothing is
/// expired. A database error is logged and the loop carries on at the next tick; it never
/// dies silently. Later duties (expiry, outbox dispatch, event ingestion) join the same loop.
/// </summary>
public sealed partial class DutyRunner(
    LeaderLock leader, LeaseReaper reaper, KilnServerOptions options, TimeProvider time, ILogger<DutyRunner> logger) : BackgroundService
{
    private const int ReaperBatch = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await leader.CheckAsync(stoppingToken))
                {
                    int ended;
                    do
                    {
                        ended = await reaper.ReapExpiredAsync(ReaperBatch, stoppingToken);
                        if (ended > 0)
                        {
                            LogReaped(logger, ended);
                        }
                    }
                    while (ended == ReaperBatch);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogDutyFailed(logger, e.Message);
            }
            await Task.Delay(options.DutyInterval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        await leader.ReleaseAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Lease reaper ended {Count} expired attempt(s)")]
    private static partial void LogReaped(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Background duty failed; retrying next tick: {Reason}")]
    private static partial void LogDutyFailed(ILogger logger, string reason);
}
