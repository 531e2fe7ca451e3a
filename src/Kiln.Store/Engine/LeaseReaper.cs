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
            var message = timedOut ? "the attempt ran past the job's timeout" : "the worker stopped renewing its lease";
            var result = await _ender.EndAsync(workerId: null, id, token, end, null, message, ct);
            ended += result.Status == ReportStatus.Recorded ? 1 : 0;
        }
        return ended;
    }
}
