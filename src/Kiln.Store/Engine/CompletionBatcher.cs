using System.Threading.Channels;
using Kiln.Core;
using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>
/// Gathers concurrent success reports and ends them together (<see cref="ReportStore.CompleteSucceededAsync"/>):
/// many completions per commit instead of one, and one hold of each workflow's counter row
/// per batch instead of one per completion — the limit the benchmark measured at about 500
/// completions/s per workflow. No timer: while one batch commits, the next reports queue,
/// so an idle farm adds no latency and a busy one batches by itself. Two batches run at once
/// (their locks are taken in ascending order, so they cannot deadlock). Every other report
/// goes straight to <see cref="ReportStore.ReportAsync"/>; a batch the database refuses is
/// ended report by report, so one bad report fails alone.
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

    /// <summary>
    /// Answers one report of worker <paramref name="workerId"/>: a success joins the next
    /// batch; any other end goes straight to the single path.
    /// </summary>
    public async Task<ReportResult> ReportAsync(long workerId, long id, Guid token, AttemptEnd end, int? exitCode, string? message, CancellationToken ct)
    {
        if (end != AttemptEnd.Succeeded)
        {
            return await _reports.ReportAsync(workerId, id, token, end, exitCode, message, ct);
        }
        var pending = new Pending(new SuccessReport(workerId, id, token, exitCode, message), new(TaskCreationOptions.RunContinuationsAsynchronously));
        await _queue.Writer.WriteAsync(pending, ct);
        // The batch goes ahead even if this caller gives up: a completion is idempotent, and
        // a worker that retries gets the recorded answer.
        return await pending.Result.Task.WaitAsync(ct);
    }

    /// <summary>
    /// Answers a worker's report batch, each report in order. The successes join the batcher
    /// at once (one statement for all of them); the others run one after another on one
    /// connection at a time, so a 256-report batch holds at most one pooled connection for
    /// them instead of 256 at once.
    /// </summary>
    public async Task<ReportResult[]> ReportManyAsync(long workerId, IReadOnlyList<AttemptReport> reports, CancellationToken ct)
    {
        var results = new Task<ReportResult>[reports.Count];
        for (var i = 0; i < reports.Count; i++)
        {
            var r = reports[i];
            if (r.End == AttemptEnd.Succeeded)
            {
                results[i] = ReportAsync(workerId, r.WorkRequestId, r.LeaseToken, r.End, r.ExitCode, r.Message, ct);
            }
        }
        for (var i = 0; i < reports.Count; i++)
        {
            var r = reports[i];
            if (r.End != AttemptEnd.Succeeded)
            {
                results[i] = Task.FromResult(await _reports.ReportAsync(workerId, r.WorkRequestId, r.LeaseToken, r.End, r.ExitCode, r.Message, ct));
            }
        }
        return await Task.WhenAll(results);
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
            catch (PostgresException e) when (!e.IsTransient)
            {
                // The database refused the set statement (a value it will not store, a
                // constraint): the batch rolled back as a whole. End each report on its own,
                // so the one that fails fails alone and the others are recorded.
                foreach (var p in batch)
                {
                    await EndAloneAsync(p);
                }
            }
            catch (Exception e)
            {
                // The connection or the server failed: each caller sees the error (a transient
                // one becomes a 503, and the worker retries).
                foreach (var p in batch)
                {
                    p.Result.TrySetException(e);
                }
            }
        }
    }

    private async Task EndAloneAsync(Pending p)
    {
        try
        {
            var r = p.Report;
            p.Result.TrySetResult(await _reports.ReportAsync(r.WorkerId, r.WorkRequestId, r.LeaseToken, AttemptEnd.Succeeded, r.ExitCode, r.Message, CancellationToken.None));
        }
        catch (Exception e)
        {
            p.Result.TrySetException(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_consumers);
    }

    private sealed record Pending(SuccessReport Report, TaskCompletionSource<ReportResult> Result);
}
