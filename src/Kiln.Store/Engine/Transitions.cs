using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>
/// The locking protocol, as code: every statement that locks work-request rows and waits for
/// them is built here. The rule: lock, then read, then decide; work-request rows in ascending
/// id order (each lock statement sorts below its <c>FOR NO KEY UPDATE</c>, so rows are locked
/// as sorted; a transaction that locks again locks only ids above those it holds, which
/// <see cref="LockAboveAsync"/> checks); workflow rows last. Dependents have larger ids than
/// what they depend on (the submission draws ids in dependency order), so "the row, then its
/// dependents or descendants" is ascending. No transaction waits on a row while holding a
/// higher one, so transitions cannot deadlock (Debusine's overlapping-lock deadlock) and no
/// whole-workflow lock is needed. The claim is the one exception: it never waits (SKIP LOCKED).
/// </summary>
internal static class Transitions
{
    /// <summary>
    /// A lock statement over the work-request rows that match <paramref name="where"/>
    /// (alias <c>w</c>): ORDER BY sits below the lock, so rows are locked in ascending id order.
    /// </summary>
    public static string LockSql(string where) => $"""
        SELECT w.id, w.state FROM work_requests w WHERE {where} ORDER BY w.id FOR NO KEY UPDATE
        """;

    private static readonly string LockRowsSql = LockSql("w.id = ANY(@ids)");

    /// <summary>The rows and every row that depends on one of them directly: what a set of successes releases.</summary>
    private static readonly string LockRowsAndDependentsSql = LockSql(
        "w.id = ANY(ARRAY(SELECT unnest(@ids) UNION SELECT work_request_id FROM dependencies WHERE depends_on_id = ANY(@ids)))");

    private static readonly string LockOfWorkflowSql = LockSql("w.workflow_id = @workflow AND w.state = ANY(@states)");

    /// <summary>Workflow rows are locked after every work-request row the transaction needs.</summary>
    private const string LockWorkflowsSql = """
        SELECT id FROM workflows WHERE id = ANY(@ids) ORDER BY id FOR NO KEY UPDATE
        """;

    private const string LockWorkflowsOfRowsSql = """
        SELECT id FROM workflows
        WHERE id = ANY(ARRAY(SELECT DISTINCT workflow_id FROM work_requests WHERE id = ANY(@ids)))
        ORDER BY id FOR NO KEY UPDATE
        """;

    /// <summary>
    /// All transitive dependents, whatever their state: what a failure or cancel must skip once
    /// they are locked. Not filtered by state here: a row finished now may be reopened by a
    /// retry before the lock is granted, and must then be skipped too.
    /// </summary>
    private const string DescendantsSql = """
        WITH RECURSIVE below(id) AS (
            SELECT work_request_id FROM dependencies WHERE depends_on_id = @id
            UNION
            SELECT d.work_request_id FROM dependencies d JOIN below b ON d.depends_on_id = b.id
        )
        SELECT id FROM below ORDER BY id
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

    public static NpgsqlBatchCommand LockRowsCommand(IEnumerable<long> ids) =>
        new(LockRowsSql) { Parameters = { new NpgsqlParameter<long[]>("ids", ids.Distinct().Order().ToArray()) } };

    public static NpgsqlBatchCommand LockRowsAndDependentsCommand(long[] ids) =>
        new(LockRowsAndDependentsSql) { Parameters = { new NpgsqlParameter<long[]>("ids", ids) } };

    /// <summary>The workflows of the given work-request rows, locked after those rows.</summary>
    public static NpgsqlBatchCommand LockWorkflowsOfRowsCommand(long[] ids) =>
        new(LockWorkflowsOfRowsSql) { Parameters = { new NpgsqlParameter<long[]>("ids", ids) } };

    /// <summary>Locks the rows; returns the state of each one that exists, read under its lock.</summary>
    public static async Task<Dictionary<long, string>> LockRowsAsync(NpgsqlConnection conn, IEnumerable<long> ids, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(LockRowsSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", ids.Distinct().Order().ToArray()));
        return await ReadLockedAsync(cmd, ct);
    }

    /// <summary>
    /// Locks more rows in a transaction that already holds <paramref name="held"/>: only ids
    /// above it may be added, or two transactions could wait on each other.
    /// </summary>
    public static Task<Dictionary<long, string>> LockAboveAsync(NpgsqlConnection conn, long held, IReadOnlyCollection<long> ids, CancellationToken ct)
    {
        if (ids.Any(id => id <= held))
        {
            throw new InvalidOperationException($"lock order: rows at or below {held} requested while holding {held}");
        }
        return ids.Count == 0 ? Task.FromResult(new Dictionary<long, string>()) : LockRowsAsync(conn, ids, ct);
    }

    /// <summary>Locks a workflow's rows in the given states; returns each one's state, read under its lock.</summary>
    public static async Task<Dictionary<long, string>> LockOfWorkflowAsync(NpgsqlConnection conn, long workflowId, string[] states, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(LockOfWorkflowSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("states", states));
        return await ReadLockedAsync(cmd, ct);
    }

    /// <summary>Locks the workflow row (last, after the work-request rows); false if it does not exist.</summary>
    public static async Task<bool> LockWorkflowAsync(NpgsqlConnection conn, long workflowId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(LockWorkflowsSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", new[] { workflowId }));
        return await cmd.ExecuteScalarAsync(ct) is not null;
    }

    private static async Task<Dictionary<long, string>> ReadLockedAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var locked = new Dictionary<long, string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            locked[reader.GetInt64(0)] = reader.GetString(1);
        }
        return locked;
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
