using System.Threading.Channels;
using Kiln.Store.Database;
using Kiln.Store.Engine;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Server.Duties;

/// <summary>
/// LISTENs on <see cref="ConcurrencyStore.Channel"/> so that a workflow queued on any replica
/// (a grouped submission, an approval that queues) is decided at once by this replica's
/// <see cref="ConcurrencyDuty"/> when it leads, not at the next duty tick. Notifications are
/// coalesced: one pass covers every group, so a burst of them runs at most one pass more.
/// Reconnects after a database error; the duty's own tick covers what was missed meanwhile.
/// </summary>
public sealed partial class ConcurrencySignalListener(
    NpgsqlDataSource dataSource, ConcurrencyDuty duty, LeaderLease leader, TimeProvider time, ILogger<ConcurrencySignalListener> logger)
    : BackgroundService
{
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(1);

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ListenAsync(stoppingToken), RunPassesAsync(stoppingToken));

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var conn = await dataSource.OpenConnectionAsync(stoppingToken);
                conn.Notification += (_, _) => _wake.Writer.TryWrite(true);
                await using (var listen = new NpgsqlCommand($"LISTEN {ConcurrencyStore.Channel}", conn))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                while (!stoppingToken.IsCancellationRequested)
                {
                    await conn.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogListenFailed(logger, e.Message);
                await Task.Delay(ReconnectDelay, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task RunPassesAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var _ in _wake.Reader.ReadAllAsync(stoppingToken))
            {
                if (!leader.MayRunDuties)
                {
                    continue;
                }
                try
                {
                    await duty.RunAsync(leader, stoppingToken);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    // The duty tick tries again within a second (and logs with backoff if it keeps failing).
                    LogPassFailed(logger, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for concurrency notifications failed ({Reason}); reconnecting")]
    private static partial void LogListenFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A concurrency pass woken by a notification failed ({Reason}); the duty tick retries")]
    private static partial void LogPassFailed(ILogger logger, string reason);
}
