using System.Diagnostics;
using Kiln.Core;
using Kiln.Server.Duties;
using Kiln.Server.Hosting;
using Kiln.Store.Database;
using Kiln.Store.Outbox;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Outbox;

/// <summary>
/// The outbox's sender, on the leader: one serial loop per channel (a forge installation or token,
/// a webhook subscription), started by the duty tick or the <see cref="OutboxTargets.Channel"/>
/// notification. A loop takes its channel's next due target with the state derived <em>now</em>
/// (so a state superseded while the forge was slow is never sent), waits the channel's spacing,
/// writes once, records the answer, and repeats until nothing differs. A pause (rate limit) stops
/// the channel's loop until it runs out; other channels go on. Loops run beside the duty tick, never
/// inside it, so a forge that hangs holds up nothing but its own channel.
/// </summary>
public sealed partial class StatusOutboxDuty(
    OutboxStore outbox, IEnumerable<IOutboxSender> senders, LeaderLease lease, KilnServerOptions options, TimeProvider time,
    ILogger<StatusOutboxDuty> logger) : ILeaderDuty, IDisposable
{
    /// <summary>Test-only fault switch: <c>kill-before:STATE</c> or <c>kill-after:STATE</c> kills the server (SIGKILL) just before or just after the first write of a target's STATE, before it is recorded.</summary>
    public const string FaultVariable = "KILN_FAULT_STATUS_SEND";

    private static readonly string? Fault = Environment.GetEnvironmentVariable(FaultVariable);

    private readonly List<IOutboxSender> _senders = [.. senders];
    private readonly Dictionary<string, Task> _loops = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();

    public string Name => "status outbox";

    public async Task RunAsync(LeaderLease leader, CancellationToken ct)
    {
        if (!leader.MayRunDuties)
        {
            return;
        }
        foreach (var channel in await outbox.DueChannelsAsync(ct))
        {
            Start(channel);
        }
    }

    /// <summary>Starts the channel's loop unless it runs already.</summary>
    private void Start(string channel)
    {
        lock (_gate)
        {
            if (_loops.TryGetValue(channel, out var running) && !running.IsCompleted)
            {
                return;
            }
            _loops[channel] = Task.Run(() => LoopAsync(channel, _stopping.Token), CancellationToken.None);
        }
    }

    /// <summary>Wakes every channel with due targets now (the submission's notification).</summary>
    public async Task WakeAsync(CancellationToken ct)
    {
        if (lease.MayRunDuties)
        {
            await RunAsync(lease, ct);
        }
    }

    private async Task LoopAsync(string channel, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested && lease.MayRunDuties)
            {
                var state = await outbox.ChannelAsync(channel, ct);
                var now = time.GetUtcNow();
                if (state?.PausedUntil > now)
                {
                    return;
                }
                if (state?.LastWriteAt is { } last && last + options.StatusSpacing > now)
                {
                    await Task.Delay(last + options.StatusSpacing - now, time, ct);
                }
                if (!lease.MayRunDuties || await outbox.NextAsync(channel, ct) is not { } item)
                {
                    return;
                }
                var sentState = item.RedeliverId is null ? item.Desired : item.Acknowledged ?? item.Desired;
                MaybeKill("kill-before", item, sentState);
                var answer = await SendAsync(item, ct);
                MaybeKill("kill-after", item, sentState);
                var retryAfter = answer.Outcome == SendOutcome.Paused
                    ? answer.PauseFor ?? TimeSpan.FromMinutes(1)
                    : Backoff(item.Attempts + 1, options.StatusRetryBase, Random.Shared.NextDouble());
                await outbox.RecordAsync(item, sentState, answer, retryAfter, CancellationToken.None);
                if (answer.Outcome != SendOutcome.Acknowledged)
                {
                    LogNotAcknowledged(logger, channel, item.TargetId, sentState, answer.Outcome.ToString(), answer.StatusCode, answer.Answer ?? "");
                }
                if (answer.PauseFor is not null)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The database or a sender bug: the next tick starts the loop again.
            LogLoopFailed(logger, channel, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>One write, bounded by <see cref="KilnServerOptions.StatusTimeout"/>; a timeout or a failed connection is an answer to retry, never an exception.</summary>
    private async Task<SendAnswer> SendAsync(OutboxItem item, CancellationToken ct)
    {
        var sender = _senders.FirstOrDefault(s => s.Handles(item.Kind));
        if (sender is null)
        {
            return new SendAnswer(SendOutcome.Failed, null, $"no sender for targets of kind {item.Kind} is configured on this server");
        }
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.StatusTimeout);
        try
        {
            var answer = await sender.SendAsync(item, timeout.Token);
            return answer with { Duration = Stopwatch.GetElapsedTime(started) };
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new SendAnswer(SendOutcome.Retry, null, $"no answer within {options.StatusTimeout.TotalSeconds:0.#} s", Duration: Stopwatch.GetElapsedTime(started));
        }
        catch (HttpRequestException e)
        {
            return new SendAnswer(SendOutcome.Retry, null, $"could not connect: {e.Message}", Duration: Stopwatch.GetElapsedTime(started));
        }
    }

    /// <summary>The wait before a failed target's next try: the base doubled per attempt, at most <see cref="RetryBackoff.Cap"/>, ±20 % jitter (a base under a second is kept as given).</summary>
    public static TimeSpan Backoff(int attempt, TimeSpan baseDelay, double jitter)
    {
        var seconds = Math.Min(baseDelay.TotalSeconds * Math.Pow(2, Math.Min(attempt - 1, 20)), RetryBackoff.Cap.TotalSeconds);
        return TimeSpan.FromSeconds(seconds * (0.8 + (0.4 * Math.Clamp(jitter, 0, 1))));
    }

    private static void MaybeKill(string when, OutboxItem item, string state)
    {
        if (Fault is { } fault && fault == $"{when}:{state}" && item.RedeliverId is null)
        {
            Process.GetCurrentProcess().Kill();
        }
    }

    public void Dispose()
    {
        // Disposed once per registration (as a duty and as itself): the second call does nothing.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private int _disposed;

    [LoggerMessage(Level = LogLevel.Information, Message = "Status channel {Channel}: target {Target} ({State}) not acknowledged: {Outcome} {Code} {Answer}")]
    private static partial void LogNotAcknowledged(ILogger logger, string channel, long target, string state, string outcome, int? code, string answer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Status channel {Channel} stopped on an error; the next duty tick starts it again: {Reason}")]
    private static partial void LogLoopFailed(ILogger logger, string channel, string reason);
}
