using Kiln.Contracts;
using Kiln.Core;
using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>
/// The set-based success batch: many plain successes of running attempts ended by one
/// statement in one transaction. A report the statement did not end (a repeat, a stale or
/// expired lease) is answered by the single path (<see cref="AttemptEnder"/>) afterwards.
/// </summary>
internal sealed class SuccessBatch(NpgsqlDataSource dataSource, TimeProvider time, AttemptEnder ender)
{
    private readonly AttemptEnder _ender = ender;

    /// <summary>
    /// Ends many successful attempts in one statement, set-based: every still-running attempt
    /// whose lease token matches and whose lease has not expired is ended; one attempts row
    /// each; each dependent loses as many unmet dependencies as ended in the batch; each
    /// workflow's counters move once by the batch's total. Reports that did not end here (a
    /// repeat, a stale lease) are not in the result, and the caller answers them one by one.
    /// Every table is reached through <c>= ANY(array)</c> on an index, never through a join the
    /// planner might turn into a scan of all running, blocked or dependency rows (it did, on
    /// tables whose statistics said they were small).
    /// </summary>
    private static readonly string EndSucceededSql = $"""
        WITH input AS (
            SELECT * FROM unnest(@ids, @workers, @tokens, @exit_codes, @messages) AS i(id, worker, token, exit_code, message)
        ), ended AS (
            UPDATE work_requests w SET
                state = 'succeeded',
                lease_token = NULL, lease_expires_at = NULL, deadline_at = NULL, not_before = NULL, claim_rank = NULL,
                finished_at = @now
            FROM input i
            WHERE w.id = ANY(@ids) AND w.id = i.id AND w.state = 'running' AND w.lease_token = i.token AND w.lease_expires_at >= @now
              -- fenced on (worker, lease token): another worker's token ends nothing
              AND w.worker_id = i.worker
            RETURNING w.id, w.workflow_id, w.attempt, w.worker_id, w.started_at, i.token, i.exit_code, i.message
        ), recorded AS (
            INSERT INTO attempts (work_request_id, attempt, worker_id, lease_token, started_at, finished_at, outcome, exit_code, message, next_state)
            SELECT id, attempt, worker_id, token, started_at, @now, 'succeeded', exit_code, message, 'succeeded' FROM ended
        ), unblocked AS (
            SELECT d.work_request_id AS id, count(*)::int AS n
            FROM dependencies d JOIN ended e ON d.depends_on_id = e.id
            WHERE d.depends_on_id = ANY(@ids)
            GROUP BY d.work_request_id
        ), released AS (
            UPDATE work_requests w SET
                unmet_deps = w.unmet_deps - u.n,
                state = CASE WHEN w.unmet_deps = u.n THEN 'pending' ELSE 'blocked' END,
                claim_rank = CASE WHEN w.unmet_deps = u.n THEN w.priority - @now_epoch / @aging END
            FROM unblocked u
            WHERE w.id = ANY(ARRAY(SELECT id FROM unblocked)) AND w.id = u.id AND w.state = 'blocked'
            RETURNING w.state
        ), per_workflow AS (
            SELECT workflow_id, count(*)::int AS n FROM ended GROUP BY workflow_id
        ), workflow AS (
            UPDATE workflows f SET
                {WorkflowCounters.Set("f.unfinished - p.n", "f.succeeded + p.n", "f.failed", "f.skipped", "f.cancelled", "f.allowed_failures")}
            FROM per_workflow p
            WHERE f.id = ANY(ARRAY(SELECT workflow_id FROM per_workflow)) AND f.id = p.workflow_id
        ), notified AS (
            -- the payload is how many rows became pending: that many waiting claims are woken
            SELECT pg_notify('kiln_work', r.n::text)
            FROM (SELECT count(*) AS n FROM released WHERE state = 'pending') r WHERE r.n > 0
        )
        -- notified is referenced so that it runs: a plain SELECT in WITH is evaluated only when read
        SELECT e.id, e.attempt, (SELECT count(*) FROM notified)::int FROM ended e
        """;

    /// <summary>
    /// Ends many successful attempts in one round trip and one transaction (the completion
    /// batcher's and the report batch's path): lock in ascending order, then one set-based
    /// statement (<see cref="EndSucceededSql"/>). One commit (one WAL flush), one update of each
    /// workflow's counter row and one notification serve the whole batch. A report that is not
    /// a plain success of the running attempt (a repeat, a stale lease, an expired one) is
    /// answered on its own afterwards, exactly as a single report.
    /// </summary>
    public async Task<IReadOnlyList<ReportResult>> EndAsync(IReadOnlyList<SuccessReport> reports, CancellationToken ct)
    {
        var results = new ReportResult?[reports.Count];
        var now = time.GetUtcNow();
        // A repeat of the same report inside one batch is answered by the single path, after the first ends.
        var first = reports.Select((r, i) => (r, i)).GroupBy(x => x.r.WorkRequestId).Select(g => g.First()).ToList();
        var ended = new Dictionary<long, int>();
        await using (var conn = await dataSource.OpenConnectionAsync(ct))
        {
            var ids = first.Select(x => x.r.WorkRequestId).ToArray();
            await using var batch = new NpgsqlBatch(conn);
            // Lock in ascending order (the reported rows and their dependents, then their
            // workflows), then one set-based statement.
            batch.BatchCommands.Add(Transitions.LockRowsAndDependentsCommand(ids));
            batch.BatchCommands.Add(Transitions.LockWorkflowsOfRowsCommand(ids));
            var end = new NpgsqlBatchCommand(EndSucceededSql);
            end.Parameters.Add(new NpgsqlParameter<long[]>("ids", ids));
            end.Parameters.Add(new NpgsqlParameter<long[]>("workers", [.. first.Select(x => x.r.WorkerId)]));
            end.Parameters.Add(new NpgsqlParameter<Guid[]>("tokens", [.. first.Select(x => x.r.LeaseToken)]));
            end.Parameters.Add(new NpgsqlParameter<int?[]>("exit_codes", [.. first.Select(x => x.r.ExitCode)]));
            end.Parameters.Add(new NpgsqlParameter<string?[]>("messages", [.. first.Select(x => ReportText.ForDatabase(x.r.Message))]));
            end.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            end.Parameters.Add(new NpgsqlParameter<double>("now_epoch", now.ToUnixTimeMilliseconds() / 1000.0));
            end.Parameters.Add(new NpgsqlParameter<double>("aging", FairShare.AgingSecondsPerPoint));
            batch.BatchCommands.Add(end);
            await using var reader = await batch.ExecuteReaderAsync(ct);
            await reader.NextResultAsync(ct);
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                ended[reader.GetInt64(0)] = reader.GetInt32(1);
            }
        }
        foreach (var (r, i) in first)
        {
            if (ended.TryGetValue(r.WorkRequestId, out var attempt))
            {
                results[i] = new(ReportStatus.Recorded, new ReportResponse(r.WorkRequestId, WorkRequestState.Succeeded, attempt, AttemptOutcome.Succeeded), null);
            }
        }
        for (var i = 0; i < reports.Count; i++)
        {
            var r = reports[i];
            results[i] ??= await _ender.EndAsync(r.WorkerId, r.WorkRequestId, r.LeaseToken, AttemptEnd.Succeeded, r.ExitCode, r.Message, ct);
        }
        return results!;
    }
}
