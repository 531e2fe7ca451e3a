using System.Net;
using Kiln.Contracts;

namespace Kiln.Worker;

/// <summary>
/// Ships a task's spool file to the server while the task runs: every <see cref="Interval"/>, all
/// new bytes, in chunks of at most <see cref="ChunkBytes"/>, each at the offset the server last
/// acknowledged. Memory is one chunk; if the server is slow or down, the backlog waits on disk.
/// A repeated chunk is harmless (the server skips bytes it holds). Shipping stops for good when
/// the lease is no longer held or the server's size limit is reached.
/// </summary>
internal sealed class LogShipper(KilnClient client, Assignment task, string spool, RetryPolicy retry, TimeProvider time)
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    public const int ChunkBytes = 512 * 1024;

    private readonly byte[] _buffer = new byte[ChunkBytes];
    private long _acknowledged;

    /// <summary>Why shipping stopped early (lease gone, size limit), or null.</summary>
    public string? Stopped { get; private set; }

    /// <summary>Ships while <paramref name="running"/> is not cancelled; transient failures wait for the next tick.</summary>
    public async Task RunAsync(CancellationToken running)
    {
        while (!running.IsCancellationRequested && Stopped is null)
        {
            try
            {
                await ShipAvailableAsync(running);
            }
            catch (Exception e) when (KilnClient.IsTransient(e, running))
            {
                // The server is unreachable for now; the bytes wait on disk for the next tick.
            }
            catch (OperationCanceledException) when (running.IsCancellationRequested)
            {
                break;
            }
            await Task.Delay(Interval, time, running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// After the task ended: ships everything left, retrying until acknowledged (or refused for good).
    /// A server that keeps answering errors (507: its log storage is full) for <paramref name="patience"/>
    /// gets no more: the log stays cut where the server holds it and <see cref="Stopped"/> says so, so
    /// the result is reported anyway instead of waiting until the task's timeout.
    /// </summary>
    public async Task FinishAsync(TimeSpan patience, CancellationToken ct)
    {
        try
        {
            await retry.UntilAcknowledgedAsync($"log of work request {task.WorkRequestId}", async c => { await ShipAvailableAsync(c); return true; }, ct, patience);
        }
        catch (KilnApiException e) when (e.IsTransient)
        {
            Stopped = $"the log is truncated at {_acknowledged} bytes: the server did not store the rest within {patience.TotalSeconds:0} s ({e.Message})";
        }
    }

    private async Task ShipAvailableAsync(CancellationToken ct)
    {
        if (Stopped is not null || !File.Exists(spool))
        {
            return;
        }
        await using var file = new FileStream(spool, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.Asynchronous);
        while (Stopped is null && file.Length > _acknowledged)
        {
            file.Seek(_acknowledged, SeekOrigin.Begin);
            var read = await file.ReadAsync(_buffer, ct);
            if (read == 0)
            {
                return;
            }
            try
            {
                var answer = await client.AppendLogAsync(task.WorkRequestId, task.Attempt, task.LeaseToken, _acknowledged, _buffer.AsMemory(0, read), ct);
                // The server says what it holds: normally offset + read; less only if it lost bytes, then resend from there.
                _acknowledged = answer.Size;
            }
            catch (KilnApiException e) when (e.Status is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
            {
                Stopped = $"the log is closed: {e.Message}";
            }
            catch (KilnApiException e) when (e.Status is HttpStatusCode.RequestEntityTooLarge)
            {
                Stopped = $"the log was cut at {_acknowledged} bytes: {e.Message}";
            }
        }
    }
}
