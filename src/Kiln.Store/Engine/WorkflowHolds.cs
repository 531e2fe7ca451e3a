using Kiln.Core;
using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>
/// Releasing a held (storm guard) or queued (concurrency group) workflow. Such a workflow is
/// stored whole, with state <c>held</c> or <c>queued</c>, and each of its root work requests
/// carries one extra unmet dependency — the gate — so it is <c>blocked</c> and nothing of it
/// can be claimed (SubmissionStore). Release takes the gate away in one transaction: the roots
/// become pending, the workflow running, and its timeout starts. Discarding one is an ordinary
/// cancel (GraphActions): blocked rows are cancellable.
/// Locks follow <see cref="Transitions"/>: the root rows in ascending id order, then the workflow rows.
/// </summary>
public sealed class WorkflowHolds(NpgsqlDataSource dataSource, TimeProvider time)
{
    private static readonly string LockRootsSql = Transitions.LockSql(
        "w.workflow_id = ANY(@ids) AND w.state = 'blocked' AND NOT EXISTS (SELECT 1 FROM dependencies d WHERE d.work_request_id = w.id)");

    private const string LockHeldSql = """
        SELECT id FROM workflows WHERE id = ANY(@ids) AND hold_state IS NOT NULL ORDER BY id FOR NO KEY UPDATE
        """;

    /// <summary>
    /// The workflow's timeout (the document's <c>timeout</c>, seconds) counts from its release.
    /// </summary>
    private const string ReleaseSql = """
        WITH released AS (
            UPDATE workflows SET
                hold_state = NULL,
                state = CASE WHEN unfinished > 0 THEN 'running' ELSE state END,
                deadline_at = CASE WHEN jsonb_typeof(document -> 'timeout') = 'number'
                    THEN @now + make_interval(secs => (document ->> 'timeout')::double precision) END
            WHERE id = ANY(@ids) AND hold_state IS NOT NULL
            RETURNING id
        ), opened AS (
            UPDATE work_requests r SET
                unmet_deps = r.unmet_deps - 1,
                state = CASE WHEN r.unmet_deps = 1 THEN 'pending' ELSE 'blocked' END,
                claim_rank = CASE WHEN r.unmet_deps = 1 THEN r.priority - @now_epoch / @aging END
            WHERE r.workflow_id = ANY(ARRAY(SELECT id FROM released)) AND r.state = 'blocked' AND r.unmet_deps >= 1
              AND NOT EXISTS (SELECT 1 FROM dependencies d WHERE d.work_request_id = r.id)
            RETURNING r.state
        ), counted AS (
            SELECT count(*) FILTER (WHERE state = 'pending') AS pending FROM opened
        ), notified AS (
            SELECT pg_notify('kiln_work', pending::text) FROM counted WHERE pending > 0
        )
        SELECT (SELECT count(*) FROM released)::int, (SELECT pending FROM counted)::int, (SELECT count(*) FROM notified)::int
        """;

    /// <summary>Releases those of <paramref name="workflowIds"/> that are held or queued; returns the ids released.</summary>
    public async Task<IReadOnlyList<long>> ReleaseAsync(IReadOnlyCollection<long> workflowIds, CancellationToken ct)
    {
        if (workflowIds.Count == 0)
        {
            return [];
        }
        var ids = workflowIds.Distinct().Order().ToArray();
        var now = time.GetUtcNow();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var roots = new NpgsqlCommand(LockRootsSql, conn, tx))
        {
            roots.Parameters.Add(new NpgsqlParameter<long[]>("ids", ids));
            await using var reader = await roots.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
            }
        }
        var held = new List<long>();
        await using (var lockHeld = new NpgsqlCommand(LockHeldSql, conn, tx))
        {
            lockHeld.Parameters.Add(new NpgsqlParameter<long[]>("ids", ids));
            await using var reader = await lockHeld.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                held.Add(reader.GetInt64(0));
            }
        }
        if (held.Count > 0)
        {
            await using var release = new NpgsqlCommand(ReleaseSql, conn, tx);
            release.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. held]));
            release.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            release.Parameters.Add(new NpgsqlParameter<double>("now_epoch", now.ToUnixTimeMilliseconds() / 1000.0));
            release.Parameters.Add(new NpgsqlParameter<double>("aging", FairShare.AgingSecondsPerPoint));
            await release.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return held;
    }
}
