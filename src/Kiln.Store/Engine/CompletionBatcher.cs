using System.Threading.Channels;
using Kiln.Core;

namespace Kiln.Store.Engine;

/// <summary>
/// Gathers concurrent success reports and ends them together (<see cref="ReportStore.CompleteSucceededAsync"/>):
/// many completions per commit instead of one, and one hold of each workflow's counter row
/// per batch instead of one per completion — the limit the benchmark measured at about 500
/// completions/s per workflow. No timer: while one batch commits, the next reports queue,
/// so an idle farm adds no latency and a busy one batches by itself. Two batches run at once
/// (their locks are taken in ascending order, so they cannot deadlock). Every other report
/// goes straight to <see cref="ReportStore.CompleteAsync"/>.
/// </summary>
public sealed class CompletionBatcher : IAsyncDisposable
{
    public const int MaxBatch = 64;
    private const int Consumers = 2;

    private readonly ReportStore _reports;
    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(4096) { FullMode = BoundedChannelFullMode.Wait });
    private readonly Task[] _consumers;

    public CompletionBatcher(ReportStore reports)
    {
        _reports = reports;
        _consumers = [.. Enumerable.Range(0, Consumers).Select(_ => Task.Run(ConsumeAsync))];
    }

    public async Task<ReportResult> CompleteAsync(long id, Guid token, AttemptEnd end, int? exitCode, string? message, CancellationToken ct)
    {
        if (end != AttemptEnd.Succeeded)
        {
            return await _reports.CompleteAsync(id, token, end, exitCode, message, ct);
        }
        var pending = new Pending(new SuccessReport(id, token, exitCode, message), new(TaskCreationOptions.RunContinuationsAsynchronously));
        await _queue.Writer.WriteAsync(pending, ct);
        // The batch goes ahead even if this caller gives up: a completion is idempotent, and
        // a worker that retries gets the recorded answer.
        return await pending.Result.Task.WaitAsync(ct);
    }

    private async Task ConsumeAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next))
            {
                batch.Add(next);
            }
            if (batch.Count == 0)
            {
                continue;
            }
            try
            {
                var results = await _reports.CompleteSucceededAsync([.. batch.Select(p => p.Report)], CancellationToken.None);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Result.TrySetResult(results[i]);
                }
            }
            catch (Exception e)
            {
                // The batch's transaction rolled back as a whole; each caller sees the error
                // (a transient one becomes a 503, and the worker retries).
                foreach (var p in batch)
                {
                    p.Result.TrySetException(e);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_consumers);
    }

    private sealed record Pending(SuccessReport Report, TaskCompletionSource<ReportResult> Result);
}
