using Kiln.Store.Database;
using Npgsql;
using Prometheus;

namespace Kiln.Server.Metrics;

/// <summary>
/// Gauges read at scrape time, in one round trip: pending and running work per queue (counted
/// from the partial indexes that hold only those rows), workers online and their slots, whether
/// this replica leads, and the database's health from PostgreSQL's own statistics (tuple writes
/// per table, the longest open transaction, backends waiting for a lock, deadlocks). Nothing is
/// kept between scrapes but the gauges themselves; a failed read sets <c>kiln_database_up</c> to 0
/// and leaves the rest at their last values.
/// </summary>
public sealed class FarmStateCollector : IDisposable
{
    /// <summary>A worker seen within this long is online (claims and heartbeats touch it at most every 15 s).</summary>
    public static readonly TimeSpan OnlineWindow = TimeSpan.FromMinutes(2);

    /// <summary>The scrape's queries together may take this long before the scrape gives up on them.</summary>
    private static readonly TimeSpan ScrapeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Pending and running counts per queue. Each branch matches one partial index's predicate
    /// (work_requests_claimable, work_requests_running), so each reads only the rows in that
    /// state, never the history.
    /// </summary>
    private const string QueuesSql = """
        SELECT 'pending', queue, count(*) FROM work_requests WHERE state = 'pending' GROUP BY queue
        UNION ALL
        SELECT 'running', queue, count(*) FROM work_requests WHERE state = 'running' GROUP BY queue
        """;

    /// <summary>The workers table has one row per worker ever registered: small, read whole.</summary>
    private const string WorkersSql = """
        SELECT count(*), coalesce(sum(slots), 0) FROM workers WHERE last_seen_at >= @since
        """;

    /// <summary>Cumulative tuple writes per table of this database (PostgreSQL's counters, so every replica reports the same).</summary>
    private const string TablesSql = """
        SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, n_live_tup, n_dead_tup
        FROM pg_stat_user_tables
        """;

    /// <summary>
    /// The longest open transaction (idle in transaction counts: it holds its snapshot and locks
    /// just the same) and the backends waiting for a lock, among this database's other sessions.
    /// </summary>
    private const string ActivitySql = """
        SELECT coalesce(extract(epoch FROM max(now() - xact_start)), 0)::float8,
               count(*) FILTER (WHERE wait_event_type = 'Lock'),
               (SELECT deadlocks FROM pg_stat_database WHERE datname = current_database())
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
          AND xact_start IS NOT NULL
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly LeaderLease _leader;
    private readonly TimeProvider _time;
    private readonly Gauge _queued;
    private readonly Gauge _workersOnline;
    private readonly Gauge _slots;
    private readonly Gauge _leading;
    private readonly Gauge _databaseUp;
    private readonly Counter _tupleWrites;
    private readonly Gauge _tuples;
    private readonly Gauge _longestTransaction;
    private readonly Gauge _lockWaits;
    private readonly Counter _deadlocks;
    private readonly HashSet<(string State, string Queue)> _seenQueues = [];
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    public FarmStateCollector(KilnMetrics metrics, NpgsqlDataSource dataSource, LeaderLease leader, TimeProvider time)
    {
        _dataSource = dataSource;
        _leader = leader;
        _time = time;
        var f = metrics.Factory;
        _queued = f.CreateGauge("kiln_work_requests", "Work requests waiting for a worker (pending) or running now, per queue.", ["state", "queue"]);
        _workersOnline = f.CreateGauge("kiln_workers_online", $"Workers seen in the last {OnlineWindow.TotalMinutes:0} minutes.");
        _slots = f.CreateGauge("kiln_worker_slots", "Slots of online workers: total, and busy (running work requests).", ["state"]);
        _leading = f.CreateGauge("kiln_leader", "1 if this replica holds leadership (runs the background duties), else 0.");
        _databaseUp = f.CreateGauge("kiln_database_up", "1 if the scrape could read the database, else 0.");
        _tupleWrites = f.CreateCounter("kiln_db_tuple_writes_total",
            "Rows written per table since PostgreSQL's statistics were reset (pg_stat_user_tables), by kind: insert, update, hot_update, delete.",
            ["table", "kind"]);
        _tuples = f.CreateGauge("kiln_db_tuples", "Live and dead rows per table (pg_stat_user_tables estimates).", ["table", "kind"]);
        _longestTransaction = f.CreateGauge("kiln_db_longest_transaction_seconds", "Age of the oldest open transaction of another session on Kiln's database.");
        _lockWaits = f.CreateGauge("kiln_db_lock_waits", "Sessions on Kiln's database waiting for a lock now.");
        _deadlocks = f.CreateCounter("kiln_db_deadlocks_total", "Deadlocks PostgreSQL detected in Kiln's database.");
        metrics.Registry.AddBeforeCollectCallback(CollectAsync);
    }

    private async Task CollectAsync(CancellationToken scrape)
    {
        _leading.Set(_leader.MayRunDuties ? 1 : 0);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(scrape);
        timeout.CancelAfter(ScrapeTimeout);
        var ct = timeout.Token;
        // Concurrent scrapes take turns: the queue bookkeeping is not shared-safe, and one read suffices.
        await _oneAtATime.WaitAsync(ct);
        try
        {
            await using var batch = _dataSource.CreateBatch();
            batch.BatchCommands.Add(new NpgsqlBatchCommand(QueuesSql));
            var workers = new NpgsqlBatchCommand(WorkersSql);
            workers.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("since", _time.GetUtcNow() - OnlineWindow));
            batch.BatchCommands.Add(workers);
            batch.BatchCommands.Add(new NpgsqlBatchCommand(TablesSql));
            batch.BatchCommands.Add(new NpgsqlBatchCommand(ActivitySql));
            await using var reader = await batch.ExecuteReaderAsync(ct);

            var present = new HashSet<(string State, string Queue)>();
            long running = 0;
            while (await reader.ReadAsync(ct))
            {
                var key = (reader.GetString(0), reader.GetString(1));
                var count = reader.GetInt64(2);
                present.Add(key);
                running += key.Item1 == "running" ? count : 0;
                _queued.WithLabels(key.Item1, key.Item2).Set(count);
            }
            // A queue that emptied reads as 0, not as its last count.
            foreach (var gone in _seenQueues.Except(present).ToList())
            {
                _queued.WithLabels(gone.State, gone.Queue).Set(0);
            }
            _seenQueues.UnionWith(present);

            await reader.NextResultAsync(ct);
            await reader.ReadAsync(ct);
            _workersOnline.Set(reader.GetInt64(0));
            _slots.WithLabels("total").Set(reader.GetInt64(1));
            _slots.WithLabels("busy").Set(running);

            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var table = reader.GetString(0);
                _tupleWrites.WithLabels(table, "insert").IncTo(reader.GetInt64(1));
                _tupleWrites.WithLabels(table, "update").IncTo(reader.GetInt64(2));
                _tupleWrites.WithLabels(table, "hot_update").IncTo(reader.GetInt64(3));
                _tupleWrites.WithLabels(table, "delete").IncTo(reader.GetInt64(4));
                _tuples.WithLabels(table, "live").Set(reader.GetInt64(5));
                _tuples.WithLabels(table, "dead").Set(reader.GetInt64(6));
            }

            await reader.NextResultAsync(ct);
            await reader.ReadAsync(ct);
            _longestTransaction.Set(reader.GetDouble(0));
            _lockWaits.Set(reader.GetInt64(1));
            if (!reader.IsDBNull(2))
            {
                _deadlocks.IncTo(reader.GetInt64(2));
            }
            _databaseUp.Set(1);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException && !scrape.IsCancellationRequested)
        {
            _databaseUp.Set(0);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    public void Dispose() => _oneAtATime.Dispose();
}
