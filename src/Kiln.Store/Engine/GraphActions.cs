using Kiln.Contracts;
using Kiln.Core;
using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>
/// Operator actions on the graph: cancel and manual retry, of one work request or a whole
/// workflow. They follow the locking protocol of <see cref="Transitions"/>: rows in ascending
/// id order, the workflow row last.
/// </summary>
public sealed class GraphActions(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string ReadStateSql = "SELECT state, workflow_id FROM work_requests WHERE id = @id";

    private const string WorkflowOfSql = "SELECT workflow_id FROM work_requests WHERE id = @id";

    /// <summary>Running work is only marked: its worker learns at the next heartbeat and stops it.</summary>
    private const string MarkCancelSql = """
        UPDATE work_requests SET cancel_requested = true
        WHERE id = ANY(@ids) AND state = 'running' AND NOT cancel_requested
        """;

    private const string CancelWaitingSql = """
        UPDATE work_requests SET state = 'cancelled', finished_at = @now
        WHERE id = ANY(@ids) AND state IN ('blocked', 'pending')
        """;

    private const string GraphOfWorkflowSql = """
        SELECT w.id, w.state, w.name,
               ARRAY(SELECT depends_on_id FROM dependencies d WHERE d.work_request_id = w.id)
        FROM work_requests w WHERE w.workflow_id = @workflow ORDER BY w.id
        """;

    /// <summary>A manual retry gives each re-run job a fresh attempt budget (retry_base) and clears old marks.</summary>
    private const string ReopenSql = """
        UPDATE work_requests w SET
            state = CASE WHEN u.unmet = 0 THEN 'pending' ELSE 'blocked' END,
            claim_rank = CASE WHEN u.unmet = 0 THEN w.priority - @queued_epoch / @aging END,
            unmet_deps = u.unmet,
            retry_base = w.attempt - w.released,
            cancel_requested = false,
            not_before = NULL,
            finished_at = NULL
        FROM unnest(@ids, @unmet) AS u(id, unmet)
        WHERE w.id = u.id
        """;

    /// <summary>Retry is rare: recounting the workflow is simpler and safer than deltas here.</summary>
    private static readonly string RecountWorkflowSql = $"""
        UPDATE workflows f SET
            {WorkflowCounters.Set("c.unfinished", "c.succeeded", "c.failed", "c.skipped", "c.cancelled", "c.allowed_failures")}
        FROM (SELECT count(*) FILTER (WHERE state IN ('blocked', 'pending', 'running')) AS unfinished,
                     count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
                     count(*) FILTER (WHERE state = 'failed') AS failed,
                     count(*) FILTER (WHERE state = 'failed' AND allow_failure) AS allowed_failures,
                     count(*) FILTER (WHERE state = 'skipped') AS skipped,
                     count(*) FILTER (WHERE state = 'cancelled') AS cancelled
              FROM work_requests WHERE workflow_id = @workflow) c
        WHERE f.id = @workflow
        """;

    /// <summary>
    /// Cancels one work request: waiting work is cancelled at once and its dependents skipped;
    /// running work is marked, and its worker stops it. The row is locked before its state is
    /// read, so the answer is about the row as it is: a row requeued a moment ago is cancelled
    /// as waiting work, not marked as if it still ran.
    /// </summary>
    public async Task<ActionResult> CancelWorkRequestAsync(long id, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var (state, workflowId) = await LockAndReadAsync(conn, id, ct);
        if (state is null)
        {
            return new(ActionStatus.NotFound, new(0, $"work request {id} does not exist"));
        }
        if (WorkRequestState.IsFinal(state))
        {
            return new(ActionStatus.Done, new(0, $"work request {id} is already {state}; nothing to cancel"));
        }
        if (state == WorkRequestState.Running)
        {
            var marked = await ExecuteAsync(conn, MarkCancelSql, ct, ("ids", new[] { id }));
            await tx.CommitAsync(ct);
            return new(ActionStatus.Done, new(marked, $"work request {id} is running; its worker will stop it at its next heartbeat"));
        }
        var descendants = await Transitions.DescendantsAsync(conn, id, ct);
        await Transitions.LockAboveAsync(conn, id, descendants, ct);
        await ExecuteAsync(conn, CancelWaitingSql, ct, ("ids", new[] { id }), ("now", now));
        var skipped = await Transitions.SkipAsync(conn, descendants, now, ct);
        await Transitions.UpdateWorkflowAsync(conn, workflowId, FinishedCounts.For(WorkRequestState.Cancelled) + FinishedCounts.For(WorkRequestState.Skipped, skipped), now, ct);
        await tx.CommitAsync(ct);
        return new(ActionStatus.Done, new(1 + skipped, skipped > 0
            ? $"work request {id} cancelled; {skipped} dependent work request(s) skipped"
            : $"work request {id} cancelled"));
    }

    public async Task<ActionResult> CancelWorkflowAsync(long workflowId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (!await WorkflowExistsAsync(conn, workflowId, ct))
        {
            return new(ActionStatus.NotFound, new(0, $"workflow {workflowId} does not exist"));
        }
        // Lock, then read, then decide. Every row that is unfinished now or could become so is
        // locked: not only the unfinished ones of the lock statement's snapshot, which would miss
        // a failed row that a concurrent retry reopens after that snapshot (then it runs after
        // the cancel said done). Only succeeded rows can never be reopened, so they are left out.
        // Rows are locked in ascending order and each state returned is the version under the
        // lock; a retry that comes later waits on these locks and sees the cancel's result.
        var locked = await Transitions.LockOfWorkflowAsync(conn, workflowId, MayBeUnfinished, ct);
        var waiting = locked.Where(r => r.Value is WorkRequestState.Blocked or WorkRequestState.Pending).Select(r => r.Key).ToArray();
        var running = locked.Where(r => r.Value == WorkRequestState.Running).Select(r => r.Key).ToArray();
        var cancelled = waiting.Length > 0 ? await ExecuteAsync(conn, CancelWaitingSql, ct, ("ids", waiting), ("now", now)) : 0;
        var marked = running.Length > 0 ? await ExecuteAsync(conn, MarkCancelSql, ct, ("ids", running)) : 0;
        await Transitions.UpdateWorkflowAsync(conn, workflowId, FinishedCounts.For(WorkRequestState.Cancelled, cancelled), now, ct);
        await tx.CommitAsync(ct);
        var message = cancelled + running.Length == 0
            ? $"workflow {workflowId} has nothing left to cancel"
            : $"workflow {workflowId}: {cancelled} work request(s) cancelled, {running.Length} running one(s) will be stopped at their worker's next heartbeat";
        return new(ActionStatus.Done, new(cancelled + marked, message));
    }

    /// <summary>Re-runs every failed, skipped or cancelled job of the workflow; what succeeded is kept.</summary>
    public async Task<ActionResult> RetryWorkflowAsync(long workflowId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        return await RetryAsync(conn, workflowId, root: null, ct);
    }

    /// <summary>Re-runs one failed, skipped or cancelled work request and the dependents it had caused to be skipped.</summary>
    public async Task<ActionResult> RetryWorkRequestAsync(long id, CancellationToken ct)
    {
        // One connection for the whole request. The workflow a work request belongs to never
        // changes, so reading it before any lock decides nothing.
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        var workflowId = await WorkflowOfAsync(conn, id, ct);
        return workflowId is null
            ? new(ActionStatus.NotFound, new(0, $"work request {id} does not exist"))
            : await RetryAsync(conn, workflowId.Value, id, ct);
    }

    private async Task<ActionResult> RetryAsync(NpgsqlConnection conn, long workflowId, long? root, CancellationToken ct)
    {
        // A held or queued workflow's roots carry the gate (WorkflowHolds); a reopened root would
        // lose it and run before its release. Read without a lock: a hold is only ever set when the
        // workflow is stored, so once it is gone it stays gone, and one released just now is
        // refused once, harmlessly.
        if (await HoldOfAsync(conn, workflowId, ct) is { } hold)
        {
            return new(ActionStatus.Conflict, new(0, hold == WorkflowState.Held
                ? $"workflow {workflowId} is held by the storm guard and has not run, so there is nothing to retry; approve it (kiln held approve {workflowId}) or discard it (kiln held discard {workflowId})"
                : $"workflow {workflowId} is queued behind the running workflow of its concurrency group and has not run, so there is nothing to retry; it starts when the group is free (kiln explain shows why it waits)"));
        }
        for (var round = 0; ; round++)
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            if (!await WorkflowExistsAsync(conn, workflowId, ct))
            {
                return new(ActionStatus.NotFound, new(0, $"workflow {workflowId} does not exist"));
            }
            // Lock, then read, then decide. Final rows change only through retry, so with the
            // retryable rows locked the graph read below is stable for them, unless a row
            // became final after the lock statement's snapshot (a running job failing just
            // now): then it is retryable but not locked, and the round starts again.
            var locked = await Transitions.LockOfWorkflowAsync(conn, workflowId, Retryable, ct);
            var graph = await ReadGraphAsync(conn, workflowId, ct);
            if (graph.Any(n => Retryable.Contains(n.State) && !locked.ContainsKey(n.Id)))
            {
                await tx.RollbackAsync(ct);
                if (round == 10)
                {
                    return new(ActionStatus.Conflict, new(0, $"workflow {workflowId} kept changing while the retry was planned; try again"));
                }
                continue;
            }
            var plan = RetryPlan(graph, root);
            if (plan.Error is not null)
            {
                return new(ActionStatus.Conflict, new(0, plan.Error));
            }
            if (plan.Reopen.Count == 0)
            {
                return new(ActionStatus.Done, new(0, $"workflow {workflowId} has no failed, skipped or cancelled work to retry"));
            }
            var now = time.GetUtcNow();
            await ExecuteAsync(conn, ReopenSql, ct, ("ids", plan.Reopen.Select(r => r.Id).ToArray()), ("unmet", plan.Reopen.Select(r => r.Unmet).ToArray()),
                ("queued_epoch", now.ToUnixTimeMilliseconds() / 1000.0), ("aging", (double)FairShare.AgingSecondsPerPoint));
            // The workflow row last, and the recount only once it is locked: a completion that
            // committed before is counted, one still in flight waits and applies its delta after.
            await Transitions.LockWorkflowAsync(conn, workflowId, ct);
            await ExecuteAsync(conn, RecountWorkflowSql, ct, ("workflow", workflowId), ("now", now));
            // Its forge statuses and webhooks report the new run (no row for a workflow without targets).
            await Outbox.OutboxStore.ReopenAsync(conn, tx, workflowId, now, ct);
            var pending = plan.Reopen.Count(r => r.Unmet == 0);
            if (pending > 0)
            {
                await Transitions.NotifyWorkAvailableAsync(conn, pending, ct);
            }
            await tx.CommitAsync(ct);
            return new(ActionStatus.Done, new(plan.Reopen.Count, $"{plan.Reopen.Count} work request(s) will run again ({pending} ready now); succeeded work is kept"));
        }
    }

    /// <summary>Every state but succeeded: a succeeded row is never reopened, so it needs no lock to stay finished.</summary>
    private static readonly string[] MayBeUnfinished =
        [WorkRequestState.Blocked, WorkRequestState.Pending, WorkRequestState.Running, WorkRequestState.Failed, WorkRequestState.Skipped, WorkRequestState.Cancelled];
    private static readonly string[] Retryable = [WorkRequestState.Failed, WorkRequestState.Skipped, WorkRequestState.Cancelled];

    private sealed record Node(long Id, string State, string Name, long[] Needs);

    /// <summary>
    /// Chooses what to reopen, walking in id order (which is dependency order): a job is
    /// reopened if it is failed, skipped or cancelled, is the root or below a reopened job
    /// (for a single retry), and has no dependency that stays failed.
    /// </summary>
    private static (List<(long Id, int Unmet)> Reopen, string? Error) RetryPlan(List<Node> graph, long? root)
    {
        var byId = graph.ToDictionary(n => n.Id);
        if (root is { } r)
        {
            var state = byId[r].State;
            if (!(WorkRequestState.IsFinal(state) && state != WorkRequestState.Succeeded))
            {
                return ([], $"work request {r} is {state}; only failed, skipped or cancelled work can be retried");
            }
        }
        var reopened = new HashSet<long>();
        var result = new List<(long, int)>();
        foreach (var node in graph)
        {
            var retryable = WorkRequestState.IsFinal(node.State) && node.State != WorkRequestState.Succeeded;
            if (!retryable || (root is not null && node.Id != root && !node.Needs.Any(reopened.Contains)))
            {
                continue;
            }
            var blocking = node.Needs.Select(n => byId[n]).FirstOrDefault(d =>
                WorkRequestState.IsFinal(d.State) && d.State != WorkRequestState.Succeeded && !reopened.Contains(d.Id));
            if (blocking is not null)
            {
                if (node.Id == root)
                {
                    return ([], $"work request {node.Id} needs '{blocking.Name}' ({blocking.Id}), which is {blocking.State}; retry that one or the whole workflow");
                }
                continue;
            }
            reopened.Add(node.Id);
            result.Add((node.Id, node.Needs.Count(n => reopened.Contains(n) || byId[n].State != WorkRequestState.Succeeded)));
        }
        return (result, null);
    }

    private static async Task<List<Node>> ReadGraphAsync(NpgsqlConnection conn, long workflowId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(GraphOfWorkflowSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        var nodes = new List<Node>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            nodes.Add(new Node(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<long[]>(3)));
        }
        return nodes;
    }

    /// <summary>Locks the row, then reads its state (under the lock).</summary>
    private static async Task<(string? State, long WorkflowId)> LockAndReadAsync(NpgsqlConnection conn, long id, CancellationToken ct)
    {
        await Transitions.LockRowsAsync(conn, [id], ct);
        await using var cmd = new NpgsqlCommand(ReadStateSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetString(0), reader.GetInt64(1)) : (null, 0);
    }

    private static async Task<long?> WorkflowOfAsync(NpgsqlConnection conn, long id, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(WorkflowOfSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        return await cmd.ExecuteScalarAsync(ct) is long workflowId ? workflowId : null;
    }

    private static async Task<string?> HoldOfAsync(NpgsqlConnection conn, long workflowId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT hold_state FROM workflows WHERE id = @id", conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workflowId));
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    private static async Task<bool> WorkflowExistsAsync(NpgsqlConnection conn, long workflowId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT 1 FROM workflows WHERE id = @id", conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workflowId));
        return await cmd.ExecuteScalarAsync(ct) is not null;
    }

    private static async Task<int> ExecuteAsync(NpgsqlConnection conn, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        return await cmd.ExecuteNonQueryAsync(ct);
    }
}
