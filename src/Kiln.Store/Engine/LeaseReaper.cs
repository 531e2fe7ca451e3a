using Kiln.Core;
using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>
/// The lease reaper (a leader-only duty): ends every attempt whose lease or deadline has
/// passed, as <see cref="AttemptEnd.Lost"/> or <see cref="AttemptEnd.TimedOut"/>, through the
/// same fenced end as a worker's report.
/// </summary>
public sealed class LeaseReaper(NpgsqlDataSource dataSource, TimeProvider time)
{
    private readonly AttemptEnder _ender = new(dataSource, time);

    /// <summary>
    /// A worker whose heartbeats and claims have been silent this long is gone: every lease it
    /// holds is ended now instead of when each lease runs out (60 s by default). A live worker
    /// heartbeats every 10 s and refreshes last_seen_at on each (ClaimStore), so this
    /// tolerates one lost heartbeat; detection takes at most 25 s + one reaper tick (1 s) after
    /// the last heartbeat. Costs no write per running job: one worker-row write per heartbeat.
    /// </summary>
    public static readonly TimeSpan WorkerSilence = TimeSpan.FromSeconds(25);

    /// <summary>
    /// Expires the leases of silent workers (lease_expires_at moved to just before now) so
    /// that the ordinary fenced end below reaps them as lost. Locks in ascending id order.
    /// No index on workers.last_seen_at: it would make every heartbeat's touch non-HOT, and
    /// the workers table is small (one row per machine). A write per lease only when its
    /// worker has died.
    /// </summary>
    private const string ExpireSilentSql = """
        WITH silent AS (
            SELECT w.id FROM workers k JOIN work_requests w ON w.worker_id = k.id AND w.state = 'running'
            WHERE k.last_seen_at < @silent_since AND w.lease_expires_at >= @now
            ORDER BY w.id
            FOR NO KEY UPDATE OF w
        )
        UPDATE work_requests w SET lease_expires_at = @now - interval '1 millisecond'
        FROM silent WHERE w.id = silent.id AND w.state = 'running'
        """;

    private const string ExpiredSql = """
        SELECT id, lease_token, deadline_at < @now FROM work_requests
        WHERE state = 'running' AND (lease_expires_at < @now OR deadline_at < @now)
        ORDER BY id LIMIT @limit
        """;

    /// <summary>
    /// Requeues or fails every attempt whose lease or deadline has passed, in batches.
    /// Runs under leadership, but is safe to run twice: each end is fenced like a worker's.
    /// </summary>
    /// <returns>How many attempts were ended.</returns>
    public async Task<int> ReapExpiredAsync(int batchSize, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using (var cmd = dataSource.CreateCommand(ExpireSilentSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("silent_since", now - WorkerSilence));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        var expired = new List<(long Id, Guid Token, bool TimedOut)>();
        await using (var cmd = dataSource.CreateCommand(ExpiredSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            cmd.Parameters.Add(new NpgsqlParameter<int>("limit", batchSize));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                expired.Add((reader.GetInt64(0), reader.GetGuid(1), !reader.IsDBNull(2) && reader.GetBoolean(2)));
            }
        }
        var ended = 0;
        foreach (var (id, token, timedOut) in expired)
        {
            var end = timedOut ? AttemptEnd.TimedOut : AttemptEnd.Lost;
            var message = timedOut ? "the attempt ran past the job's timeout" : "the worker stopped renewing its lease or went silent";
            var result = await _ender.EndAsync(workerId: null, id, token, end, null, message, ct);
            ended += result.Status == ReportStatus.Recorded ? 1 : 0;
        }
        return ended;
    }
}
