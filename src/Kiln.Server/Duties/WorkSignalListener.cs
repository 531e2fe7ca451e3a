using Kiln.Store.Engine;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Server.Duties;

/// <summary>
/// LISTENs on <see cref="WorkSignal.Channel"/> so that work made pending by any replica
/// (this one included) wakes as many of this replica's long-polling claims as there are new
/// rows. Reconnects after a database error, and wakes every waiter on reconnect because
/// notifications sent while disconnected are gone.
/// </summary>
public sealed partial class WorkSignalListener(NpgsqlDataSource dataSource, WorkSignal signal, TimeProvider time, ILogger<WorkSignalListener> logger)
    : BackgroundService
{
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var conn = await dataSource.OpenConnectionAsync(stoppingToken);
                conn.Notification += (_, e) =>
                {
                    if (int.TryParse(e.Payload, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pending))
                    {
                        signal.Wake(pending);
                    }
                    else
                    {
                        signal.WakeAll();
                    }
                };
                await using (var listen = new NpgsqlCommand($"LISTEN {WorkSignal.Channel}", conn))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                signal.WakeAll();
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for work notifications failed ({Reason}); reconnecting")]
    private static partial void LogListenFailed(ILogger logger, string reason);
}
