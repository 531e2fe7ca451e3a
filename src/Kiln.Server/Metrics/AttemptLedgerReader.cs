using Microsoft.Extensions.Hosting;
using Npgsql;
using Prometheus;

namespace Kiln.Server.Metrics;

/// <summary>
/// Job outcomes, run times and queue waits, read at scrape time from the attempts ledger (one row
/// written once per finished attempt), so the claim and completion paths do no extra work for
/// them. Each scrape reads the attempts that ended since the previous one, by primary key, at most
/// <see cref="MaxPerScrape"/> at a time (a backlog is caught up over the next scrapes). The cursor
/// starts at the server's start, so these counters count attempts that ended while this replica
/// ran; every replica reads the same ledger, so across replicas take one replica's value (max),
/// not the sum. Lease losses and timeouts are the reaper's results (outcomes <c>lost</c> and
/// <c>timed-out</c>).
/// </summary>
public sealed class AttemptLedgerReader : IHostedService, IDisposable
{
    public const int MaxPerScrape = 10_000;

    /// <summary>Queue waits and run times: 0.1 s to ~2 days.</summary>
    private static readonly double[] DurationBuckets = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 172800];

    private const string StartSql = "SELECT coalesce(max(id), 0) FROM attempts";

    /// <summary>
    /// The attempts that ended since the cursor, with what labels them. Queue wait is from when the
    /// work request became ready — its submission, its last dependency's end, or its previous
    /// attempt's end (which includes any retry backoff) — to the attempt's claim. The first attempt
    /// after a manual retry has no recorded ready time, so it reports no queue wait (NULL) rather
    /// than a wrong one. All lookups are by primary key or the (work_request_id, attempt) key.
    /// </summary>
    private const string NewAttemptsSql = """
        SELECT a.id, p.name, w.queue, w.name, a.outcome,
            extract(epoch FROM a.finished_at - a.started_at)::float8,
            CASE WHEN w.retry_base > 0 AND a.attempt = w.retry_base + 1 THEN NULL
                 ELSE greatest(0, extract(epoch FROM a.started_at - greatest(w.created_at, prev.finished_at, deps.done)))::float8 END,
            a.finished_at
        FROM attempts a
        JOIN work_requests w ON w.id = a.work_request_id
        JOIN projects p ON p.id = w.project_id
        LEFT JOIN attempts prev ON prev.work_request_id = a.work_request_id AND prev.attempt = a.attempt - 1
        LEFT JOIN LATERAL (
            SELECT max(d.finished_at) AS done FROM dependencies e JOIN work_requests d ON d.id = e.depends_on_id
            WHERE e.work_request_id = w.id
        ) deps ON a.attempt = 1
        WHERE a.id > @after
        ORDER BY a.id
        LIMIT @limit
        """;

    /// <summary>
    /// Attempt ids are taken when the row is inserted and become visible when its transaction
    /// commits, so a lower id can appear after a higher one was read. The reader stops at the
    /// first attempt that ended less than this long ago and takes it up at a later scrape;
    /// completions commit within milliseconds of writing their end time.
    /// </summary>
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);

    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;
    private readonly bool _detailed;
    private readonly Counter _outcomes;
    private readonly Histogram _runSeconds;
    private readonly Histogram _waitSeconds;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private long? _after;

    public AttemptLedgerReader(KilnMetrics metrics, NpgsqlDataSource dataSource, TimeProvider time)
    {
        _dataSource = dataSource;
        _time = time;
        _detailed = metrics.Detailed;
        string[] labels = _detailed ? ["project", "queue", "job"] : ["project", "queue"];
        var f = metrics.Factory;
        _outcomes = f.CreateCounter("kiln_attempts_total",
            "Attempts that ended, by outcome: succeeded, failed, cancelled, lost (lease expired), timed-out, error, released.",
            [.. labels, "outcome"]);
        _runSeconds = f.CreateHistogram("kiln_attempt_run_seconds", "Run time of ended attempts, from claim to end.",
            new HistogramConfiguration { Buckets = DurationBuckets, LabelNames = labels });
        _waitSeconds = f.CreateHistogram("kiln_queue_wait_seconds",
            "Time work requests waited for a worker, from ready (submitted, dependencies done, or previous attempt ended) to claim; observed when the attempt ends.",
            new HistogramConfiguration { Buckets = DurationBuckets, LabelNames = labels });
        metrics.Registry.AddBeforeCollectCallback(CollectAsync);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var cmd = _dataSource.CreateCommand(StartSql);
        _after = (long)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _oneAtATime.Dispose();

    private async Task CollectAsync(CancellationToken ct)
    {
        if (_after is null)
        {
            return;
        }
        await _oneAtATime.WaitAsync(ct);
        try
        {
            await using var cmd = _dataSource.CreateCommand(NewAttemptsSql);
            cmd.Parameters.Add(new NpgsqlParameter<long>("after", _after.Value));
            cmd.Parameters.Add(new NpgsqlParameter<int>("limit", MaxPerScrape));
            cmd.CommandTimeout = 5;
            var settled = _time.GetUtcNow() - Settle;
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                if (reader.GetFieldValue<DateTimeOffset>(7) >= settled)
                {
                    break;
                }
                string[] labels = _detailed
                    ? [reader.GetString(1), reader.GetString(2), reader.GetString(3)]
                    : [reader.GetString(1), reader.GetString(2)];
                _outcomes.WithLabels([.. labels, reader.GetString(4)]).Inc();
                _runSeconds.WithLabels(labels).Observe(reader.GetDouble(5));
                if (!reader.IsDBNull(6))
                {
                    _waitSeconds.WithLabels(labels).Observe(reader.GetDouble(6));
                }
                _after = reader.GetInt64(0);
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // The database's trouble shows in kiln_database_up; these catch up at the next scrape.
        }
        finally
        {
            _oneAtATime.Release();
        }
    }
}
