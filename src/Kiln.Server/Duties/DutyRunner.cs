using Kiln.Server.Hosting;
using Kiln.Store.Database;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Server.Duties;

/// <summary>
/// Runs the exactly-one background duties (<see cref="ILeaderDuty"/>) on whichever replica holds
/// the <see cref="LeaderLease"/>. Every <see cref="KilnServerOptions.DutyInterval"/> (1 s by
/// default) it renews or tries to take leadership, then, if leading, runs each duty. Nothing
/// stops the loop but shutdown: a failed duty — whatever the exception — is logged and backed
/// off (interval × 2ⁿ, at most <see cref="MaxBackoff"/>) while the other duties carry on; a failed
/// leadership check is logged and retried. When no replica has led for longer than the
/// leadership lease, it warns (once per lease length).
/// </summary>
public sealed partial class DutyRunner(
    LeaderLease leader, IEnumerable<ILeaderDuty> duties, KilnServerOptions options, TimeProvider time, ILogger<DutyRunner> logger) : BackgroundService
{
    /// <summary>Longest pause of a failing duty between two tries.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);

    private readonly Dictionary<ILeaderDuty, (int Failures, long RetryAt)> _backoff = [];
    private long _lastLeaderlessWarning;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var list = duties.ToList();
        var checkFailures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var leading = false;
            try
            {
                leading = await leader.TickAsync(stoppingToken);
                checkFailures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // Log the first failure and every tenth after it: a database outage is one story, not one line a second.
                if (checkFailures++ % 10 == 0)
                {
                    LogCheckFailed(logger, checkFailures, Describe(e));
                }
            }
            WarnIfLeaderless();
            if (leading)
            {
                foreach (var duty in list)
                {
                    if (stoppingToken.IsCancellationRequested || !leader.MayRunDuties)
                    {
                        break;
                    }
                    await RunAsync(duty, stoppingToken);
                }
            }
            await Task.Delay(options.DutyInterval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        await leader.ReleaseAsync();
    }

    private async Task RunAsync(ILeaderDuty duty, CancellationToken ct)
    {
        if (_backoff.TryGetValue(duty, out var backoff) && time.GetTimestamp() < backoff.RetryAt)
        {
            return;
        }
        try
        {
            await duty.RunAsync(leader, ct);
            if (backoff.Failures > 0)
            {
                LogRecovered(logger, duty.Name, backoff.Failures);
            }
            _backoff.Remove(duty);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            var failures = backoff.Failures + 1;
            var delay = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, options.DutyInterval.Ticks << Math.Min(failures, 20)));
            _backoff[duty] = (failures, time.GetTimestamp() + (long)(delay.TotalSeconds * time.TimestampFrequency));
            if (e is NpgsqlException or TimeoutException)
            {
                LogDutyFailed(logger, duty.Name, failures, delay.TotalSeconds, Describe(e));
            }
            else
            {
                // Not a database hiccup: a bug, worth its stack trace.
                LogDutyBug(logger, e, duty.Name, failures, delay.TotalSeconds, Describe(e));
            }
        }
    }

    private void WarnIfLeaderless()
    {
        var bound = leader.Options.Lease;
        var leaderless = leader.Leaderless;
        if (leaderless > bound && time.GetElapsedTime(_lastLeaderlessWarning) > bound)
        {
            _lastLeaderlessWarning = time.GetTimestamp();
            LogLeaderless(logger, leaderless.TotalSeconds, bound.TotalSeconds, leader.LastSeen is { Holder.Length: > 0 } seen ? seen.Holder : "none");
        }
    }

    private static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message}";

    [LoggerMessage(Level = LogLevel.Warning, Message = "Background duty '{Duty}' failed ({Failures} in a row); next try in {Seconds:0.#} s: {Reason}")]
    private static partial void LogDutyFailed(ILogger logger, string duty, int failures, double seconds, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Background duty '{Duty}' failed unexpectedly ({Failures} in a row); next try in {Seconds:0.#} s: {Reason}")]
    private static partial void LogDutyBug(ILogger logger, Exception e, string duty, int failures, double seconds, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Background duty '{Duty}' works again after {Failures} failure(s)")]
    private static partial void LogRecovered(ILogger logger, string duty, int failures);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checking duty leadership failed ({Failures} in a row); retrying every tick: {Reason}")]
    private static partial void LogCheckFailed(ILogger logger, int failures, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No replica has led the background duties for {Seconds:0} s (bound {Bound:0} s; last leader {Holder}): leases are not reaped meanwhile")]
    private static partial void LogLeaderless(ILogger logger, double seconds, double bound, string holder);
}
