using Kiln.Store.Outbox;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Server.Outbox;

/// <summary>
/// LISTENs on <see cref="OutboxTargets.Channel"/> (NOTIFYed when a workflow with targets is stored,
/// or reopened by a retry), so the first "queued" status goes out at once rather than at the next
/// duty tick. A lost notification costs only that tick.
/// </summary>
public sealed partial class StatusSignalListener(
    NpgsqlDataSource dataSource, StatusOutboxDuty duty, TimeProvider time, ILogger<StatusSignalListener> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var conn = await dataSource.OpenConnectionAsync(stoppingToken);
                var woken = 0;
                conn.Notification += (_, _) => Interlocked.Exchange(ref woken, 1);
                await using (var listen = new NpgsqlCommand($"LISTEN {OutboxTargets.Channel}", conn))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                while (!stoppingToken.IsCancellationRequested)
                {
                    await conn.WaitAsync(stoppingToken);
                    if (Interlocked.Exchange(ref woken, 0) == 1)
                    {
                        await duty.WakeAsync(stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogListenFailed(logger, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for new status targets failed; they are sent at the next duty tick: {Reason}")]
    private static partial void LogListenFailed(ILogger logger, string reason);
}
