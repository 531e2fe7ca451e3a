using System.Net;
using System.Threading.Channels;
using Kiln.Contracts;

namespace Kiln.Worker;

/// <summary>
/// Sends the worker's reports (results, hand-backs) in batches: every report made while the
/// previous request was on its way goes in the next one (<c>POST /api/v1/work-requests/reports</c>).
/// An idle worker sends each report at once; a worker finishing many short tasks sends one request
/// per round trip instead of one per task. A batch is repeated until acknowledged (see
/// <see cref="RetryPolicy"/>); the server judges each report on its own, so a refused one fails only
/// its own caller. Each work request is reported once per attempt (a task reports its result; an
/// unstarted one is handed back), so a batch never names one twice.
/// </summary>
internal sealed class ReportSender(KilnClient client, RetryPolicy retry)
{
    /// <summary>The server's limit per request.</summary>
    public const int MaxBatch = 256;

    /// <summary>The server's limit on a report's message.</summary>
    public const int MaxMessageChars = 4000;

    /// <summary>Well under the server's body limit, counting each message character as its worst JSON escape.</summary>
    private const int MaxBatchBytes = 1024 * 1024;

    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Queues <paramref name="report"/> for the next batch and waits for its answer.</summary>
    /// <exception cref="KilnApiException">The server refused this report (404 unknown, 409 lease not held).</exception>
    public async Task<ReportResponse> SendAsync(WorkerReport report, CancellationToken ct)
    {
        // The server refuses a longer message, or one with U+0000 or control characters (and
        // with it the whole batch): keep its start, and replace what it cannot store.
        if (report.Message is { } text && Kiln.Core.SafeText.Clean(text) is var clean && !ReferenceEquals(clean, text))
        {
            report = report with { Message = clean };
        }
        if (report.Message is { Length: > MaxMessageChars } message)
        {
            report = report with { Message = message[..(MaxMessageChars - 1)] + "…" };
        }
        var pending = new Pending(report, new(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new InvalidOperationException("the worker has stopped sending reports");
        }
        return await pending.Answer.Task.WaitAsync(ct);
    }

    /// <summary>No more reports will come: <see cref="RunAsync"/> ends once those queued are sent.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <summary>Sends batches until <see cref="Complete"/> (after the last queued one) or <paramref name="stop"/>.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var batch = new List<Pending>(MaxBatch);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stop))
            {
                batch.Clear();
                // By count and by size (messages can be long): never a batch the server would refuse whole.
                var bytes = 0;
                while (batch.Count < MaxBatch && bytes < MaxBatchBytes && _queue.Reader.TryRead(out var next))
                {
                    batch.Add(next);
                    bytes += 200 + (6 * (next.Report.Message?.Length ?? 0));
                }
                await SendBatchAsync(batch, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Exiting regardless: unsent results are lost with their leases, and the server retries that work.
            foreach (var p in batch)
            {
                p.Answer.TrySetCanceled(stop);
            }
            while (_queue.Reader.TryRead(out var left))
            {
                left.Answer.TrySetCanceled(stop);
            }
        }
    }

    private async Task SendBatchAsync(List<Pending> batch, CancellationToken stop)
    {
        ReportBatchResponse answer;
        try
        {
            var request = new ReportBatchRequest([.. batch.Select(p => p.Report)]);
            answer = await retry.UntilAcknowledgedAsync(batch.Count == 1 ? $"report of work request {batch[0].Report.WorkRequestId}" : $"{batch.Count} reports",
                c => client.ReportAsync(request, c), stop);
        }
        catch (KilnApiException e)
        {
            // The whole request was refused (it should not be: reports are checked before sending).
            foreach (var p in batch)
            {
                p.Answer.TrySetException(e);
            }
            return;
        }
        for (var i = 0; i < batch.Count; i++)
        {
            var outcome = i < answer.Results.Count ? answer.Results[i] : null;
            if (outcome is { Status: 200, Report: { } report })
            {
                batch[i].Answer.TrySetResult(report);
            }
            else
            {
                var status = (HttpStatusCode)(outcome?.Status ?? 502);
                batch[i].Answer.TrySetException(new KilnApiException(status, status == HttpStatusCode.NotFound ? "Not found" : "Lease not held",
                    outcome?.Problem ?? "the server's answer did not cover this report", []));
            }
        }
    }

    private sealed record Pending(WorkerReport Report, TaskCompletionSource<ReportResponse> Answer);
}
