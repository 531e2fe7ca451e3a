using Kiln.Store.Database;
using Kiln.Store.Events;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Server.Events;

/// <summary>
/// LISTENs on <see cref="EventStore.Channel"/> so that the leader processes an event as soon as it
/// is stored rather than at the next duty tick. A lost notification costs only that tick: the
/// poll (<see cref="EventProcessorDuty"/>) takes whatever is left. Reconnects after a database error.
/// </summary>
public sealed partial class EventSignalListener(
    NpgsqlDataSource dataSource, EventProcessor processor, LeaderLease leader, TimeProvider time, ILogger<EventSignalListener> logger) : BackgroundService
{
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim _wake = new(0, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var draining = DrainOnWakeAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var conn = await dataSource.OpenConnectionAsync(stoppingToken);
                conn.Notification += (_, _) => Wake();
                await using (var listen = new NpgsqlCommand($"LISTEN {EventStore.Channel}", conn))
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
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogListenFailed(logger, e.Message);
                await Task.Delay(ReconnectDelay, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        await draining;
    }

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // already woken: the drain that runs next takes this event too
        }
    }

    private async Task DrainOnWakeAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(ct);
                if (leader.MayRunDuties)
                {
                    await processor.DrainAsync(() => leader.MayRunDuties, ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The duty's poll retries (and backs off) whatever failed here.
                LogDrainFailed(logger, $"{e.GetType().Name}: {e.Message}");
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for event notifications failed ({Reason}); reconnecting")]
    private static partial void LogListenFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Processing events on notification failed ({Reason}); the next duty tick tries again")]
    private static partial void LogDrainFailed(ILogger logger, string reason);
}
