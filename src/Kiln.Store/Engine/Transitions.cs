using Kiln.Core;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Engine;

/// <summary>
/// The state changes that end or requeue an attempt, and their propagation through the
/// graph. Every caller (worker reports, the lease reaper, cancellation) goes through here,
/// so there is one locking protocol: the rows a transition changes — the work request and
/// the dependents it releases or skips — are locked in ascending id order in one
/// statement, then the workflow row last. Nothing else is locked, and no transaction waits
/// on a row while holding a higher one, so completions cannot deadlock (Debusine's
/// overlapping-lock deadlock) and no whole-workflow lock is needed.
/// </summary>
internal static class Transitions
{
    /// <summary>Locks rows in ascending id order; ORDER BY sits below the lock, so rows are locked as sorted.</summary>
    private const string LockRowsSql = """
        SELECT id FROM work_requests WHERE id = ANY(@ids) ORDER BY id FOR NO KEY UPDATE
        """;

    /// <summary>All non-final transitive dependents: what a failure or cancel must skip.</summary>
    private const string DescendantsSql = """
        WITH RECURSIVE below(id) AS (
            SELECT work_request_id FROM dependencies WHERE depends_on_id = @id
            UNION
            SELECT d.work_request_id FROM dependencies d JOIN below b ON d.depends_on_id = b.id
        )
        SELECT w.id FROM below JOIN work_requests w USING (id)
        WHERE w.state IN ('blocked', 'pending')
        """;

    private const string SkipSql = """
        UPDATE work_requests SET state = 'skipped', finished_at = @now
        WHERE id = ANY(@ids) AND state IN ('blocked', 'pending')
        """;

    /// <summary>
    /// Applies finished-count deltas; the workflow's state follows from its counters. Runs
    /// only when some delta is non-zero (no no-op writes).
    /// </summary>
    private static readonly string WorkflowCountersSql = $"""
        UPDATE workflows SET
            {WorkflowCounters.Set("unfinished - @finished", "succeeded + @succeeded", "failed + @failed", "skipped + @skipped", "cancelled + @cancelled")}
        WHERE id = @workflow
        """;

    public static NpgsqlBatchCommand LockAscendingCommand(IEnumerable<long> ids) =>
        new(LockRowsSql) { Parameters = { new NpgsqlParameter<long[]>("ids", ids.Distinct().Order().ToArray()) } };

    public static async Task LockAscendingAsync(NpgsqlConnection conn, IEnumerable<long> ids, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(LockRowsSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", ids.Distinct().Order().ToArray()));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
        }
    }

    public static async Task<List<long>> DescendantsAsync(NpgsqlConnection conn, long id, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(DescendantsSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        var ids = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }

    public static async Task<int> SkipAsync(NpgsqlConnection conn, IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return 0;
        }
        await using var cmd = new NpgsqlCommand(SkipSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", ids.ToArray()));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public static async Task UpdateWorkflowAsync(NpgsqlConnection conn, long workflowId, FinishedCounts delta, DateTimeOffset now, CancellationToken ct)
    {
        if (delta.IsZero)
        {
            return;
        }
        await using var cmd = new NpgsqlCommand(WorkflowCountersSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        cmd.Parameters.Add(new NpgsqlParameter<int>("finished", delta.Finished));
        cmd.Parameters.Add(new NpgsqlParameter<int>("succeeded", delta.Succeeded));
        cmd.Parameters.Add(new NpgsqlParameter<int>("failed", delta.Failed));
        cmd.Parameters.Add(new NpgsqlParameter<int>("skipped", delta.Skipped));
        cmd.Parameters.Add(new NpgsqlParameter<int>("cancelled", delta.Cancelled));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Wakes <paramref name="pending"/> long-polling claims on every replica; delivered by PostgreSQL only at commit.</summary>
    public static async Task NotifyWorkAvailableAsync(NpgsqlConnection conn, int pending, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT pg_notify('{WorkSignal.Channel}', @pending)", conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("pending", pending.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        await cmd.ExecuteNonQueryAsync(ct);
    }

}
