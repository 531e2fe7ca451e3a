using System.Buffers;
using System.Net;
using Kiln.Contracts;
using Kiln.Core;

namespace Kiln.Worker;

/// <summary>
/// Ships a task's spool file to the server while the task runs: every <see cref="Interval"/>, all
/// new bytes, in chunks of at most <see cref="ChunkBytes"/>, each at the offset the server last
/// acknowledged. Memory is one chunk; if the server is slow or down, the backlog waits on disk.
/// A repeated chunk is harmless (the server skips bytes it holds). Shipping stops for good when
/// the lease is no longer held or the server's size limit is reached.
/// The bytes pass through the job's <see cref="SecretMasker"/> on their way: the server's log is
/// the masked stream, so its offsets are not the spool's. The masked chunk not yet acknowledged is
/// kept; a server that answers a size outside it (it lost what it had acknowledged) gets the log
/// masked again from the start of the spool, the bytes it holds skipped.
/// </summary>
internal sealed class LogShipper(KilnClient client, Assignment task, string spool, RetryPolicy retry, TimeProvider time, SecretMasker? masker = null)
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    public const int ChunkBytes = 512 * 1024;

    private readonly SecretMasker _masker = masker ?? new SecretMasker([]);
    private readonly byte[] _buffer = new byte[ChunkBytes];
    private readonly ArrayBufferWriter<byte> _masked = new(ChunkBytes);
    /// <summary>What the server holds of the (masked) log.</summary>
    private long _acknowledged;
    /// <summary>Spool bytes passed through the masker.</summary>
    private long _read;
    /// <summary>Bytes at the start of <see cref="_masked"/> the server holds already.</summary>
    private int _maskedSent;
    /// <summary>After masking again from the start: output bytes the server holds already, not to be sent.</summary>
    private long _skip;
    private bool _flushed;

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
            await retry.UntilAcknowledgedAsync($"log of work request {task.WorkRequestId}", async c => { await ShipAvailableAsync(c, final: true); return true; }, ct, patience);
        }
        catch (KilnApiException e) when (e.IsTransient)
        {
            Stopped = $"the log is truncated at {_acknowledged} bytes: the server did not store the rest within {patience.TotalSeconds:0} s ({e.Message})";
        }
    }

    /// <param name="final">The spool is complete: the masker's held-back tail is sent too.</param>
    private async Task ShipAvailableAsync(CancellationToken ct, bool final = false)
    {
        if (Stopped is not null || !File.Exists(spool))
        {
            return;
        }
        await using var file = new FileStream(spool, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.Asynchronous);
        while (Stopped is null)
        {
            if (_masked.WrittenCount == _maskedSent && !await MaskNextAsync(file, final, ct))
            {
                return;
            }
            var unsent = _masked.WrittenMemory[_maskedSent..];
            if (unsent.IsEmpty)
            {
                continue;
            }
            try
            {
                var answer = await client.AppendLogAsync(task.WorkRequestId, task.Attempt, task.LeaseToken, _acknowledged, unsent, ct);
                // The server says what it holds: normally offset + length; less only if it lost bytes, then resend from there.
                if (answer.Size >= _acknowledged && answer.Size <= _acknowledged + unsent.Length)
                {
                    _maskedSent += (int)(answer.Size - _acknowledged);
                    _acknowledged = answer.Size;
                }
                else
                {
                    Rewind(answer.Size);
                }
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

    /// <summary>Reads the next spool bytes through the masker into <see cref="_masked"/>; false when there is nothing more for now.</summary>
    private async Task<bool> MaskNextAsync(FileStream file, bool final, CancellationToken ct)
    {
        _masked.ResetWrittenCount();
        _maskedSent = 0;
        if (file.Length > _read)
        {
            // Room for what the masker held back from the chunk before: a chunk stays within the server's 1 MiB.
            var room = Math.Max(64 * 1024, ChunkBytes - _masker.HoldBack);
            file.Seek(_read, SeekOrigin.Begin);
            var read = await file.ReadAsync(_buffer.AsMemory(0, room), ct);
            if (read == 0)
            {
                return false;
            }
            _read += read;
            _masker.Process(_buffer.AsSpan(0, read), _masked);
        }
        else if (final && !_flushed)
        {
            _masker.Flush(_masked);
            _flushed = true;
        }
        else
        {
            return false;
        }
        var skipped = (int)Math.Min(_skip, _masked.WrittenCount);
        _maskedSent = skipped;
        _skip -= skipped;
        return true;
    }

    /// <summary>The server holds <paramref name="size"/> bytes, outside the chunk in hand: continue from there.</summary>
    private void Rewind(long size)
    {
        _masked.ResetWrittenCount();
        _maskedSent = 0;
        _acknowledged = size;
        if (_masker.IsEmpty)
        {
            // Nothing masked: the server's offsets are the spool's.
            _read = size;
            return;
        }
        _masker.Reset();
        _read = 0;
        _skip = size;
        _flushed = false;
    }
}
