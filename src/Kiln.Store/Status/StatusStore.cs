using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Database;
using Npgsql;

namespace Kiln.Store.Status;

/// <summary>
/// The reads behind <c>GET /api/v1/status</c> and <c>/readyz</c>: schema version, the leadership
/// row, queue counts and worker counts. Each is cheap however much history the tables hold:
/// counts come from the partial indexes of pending and running rows (index-only scans), the
/// oldest wait from one index probe per queue, workers from their small table.
/// </summary>
public sealed class StatusStore(NpgsqlDataSource dataSource)
{
    /// <summary>A worker is online when it claimed or heartbeated within this (the same window <c>explain</c> uses).</summary>
    public static readonly TimeSpan OnlineWindow = Scheduling.ExplainStore.ConnectedWindow;

    private const string MigrationsSql = "SELECT version FROM schema_migrations ORDER BY version";

    private const string LeadershipSql = """
        SELECT holder, fence, acquired_at, expires_at, holder_clock_skew_ms, now() FROM leadership WHERE name = @name
        """;

    /// <summary>
    /// Pending counts read work_requests_claimable (pending rows only, queue in the key), running
    /// counts work_requests_running; neither touches history. The oldest wait is that of the
    /// lowest-id pending row of each queue (work_requests_state_id walks pending ids in order),
    /// its queued instant recovered from claim_rank = priority − queued_epoch / aging.
    /// </summary>
    private const string QueuesSql = """
        WITH counts AS (
            SELECT queue, sum(pending) AS pending, sum(running) AS running FROM (
                SELECT queue, count(*) AS pending, 0 AS running FROM work_requests WHERE state = 'pending' GROUP BY queue
                UNION ALL
                SELECT queue, 0, count(*) FROM work_requests WHERE state = 'running' GROUP BY queue) q
            GROUP BY queue
        )
        SELECT c.queue, c.pending::bigint, c.running::bigint,
               greatest(0, extract(epoch FROM now()) - o.queued_epoch)::float8
        FROM counts c
        LEFT JOIN LATERAL (
            SELECT (w.priority - w.claim_rank) * @aging AS queued_epoch FROM work_requests w
            WHERE w.state = 'pending' AND w.queue = c.queue AND c.pending > 0
            ORDER BY w.id LIMIT 1
        ) o ON true
        ORDER BY c.queue
        """;

    private const string WorkersSql = """
        SELECT count(*) FILTER (WHERE last_seen_at >= now() - @window)::int,
               count(*) FILTER (WHERE last_seen_at < now() - @window)::int,
               coalesce(sum(slots) FILTER (WHERE last_seen_at >= now() - @window), 0)::int,
               (SELECT count(*) FROM work_requests WHERE state = 'running')
        FROM workers
        """;

    /// <summary>Applied migrations, oldest first.</summary>
    public async Task<IReadOnlyList<string>> AppliedMigrationsAsync(CancellationToken ct)
    {
        var applied = new List<string>();
        await using var cmd = dataSource.CreateCommand(MigrationsSql);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            applied.Add(reader.GetString(0));
        }
        return applied;
    }

    /// <summary>The known migrations that <paramref name="applied"/> lacks.</summary>
    public static IReadOnlyList<string> Missing(IReadOnlyList<string> applied) =>
        [.. Migrator.Migrations.Select(m => m.Version).Except(applied, StringComparer.Ordinal)];

    public async Task<LeadershipView?> LeadershipAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(LeadershipSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", LeaderLease.DutiesName));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new LeadershipView(reader.GetString(0), reader.GetInt64(1), reader.GetFieldValue<DateTimeOffset>(2), reader.GetFieldValue<DateTimeOffset>(3),
                TimeSpan.FromMilliseconds(reader.GetInt32(4)), reader.GetFieldValue<DateTimeOffset>(5))
            : null;
    }

    public async Task<IReadOnlyList<QueueStatus>> QueuesAsync(CancellationToken ct)
    {
        var queues = new List<QueueStatus>();
        await using var cmd = dataSource.CreateCommand(QueuesSql);
        cmd.Parameters.Add(new NpgsqlParameter<double>("aging", FairShare.AgingSecondsPerPoint));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            queues.Add(new QueueStatus(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.IsDBNull(3) ? null : Math.Round(reader.GetDouble(3), 1)));
        }
        return queues;
    }

    public async Task<WorkerCounts> WorkersAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(WorkersSql);
        cmd.Parameters.Add(new NpgsqlParameter<TimeSpan>("window", OnlineWindow));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return new WorkerCounts(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt64(3), (int)OnlineWindow.TotalSeconds);
    }
}
