using Kiln.Contracts;
using Kiln.Core;
using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>How an attempt ended, as reported (by a worker) or observed (by the reaper).</summary>
public enum AttemptEnd
{
    /// <summary>The task exited 0.</summary>
    Succeeded,
    /// <summary>The task itself failed (non-zero exit); retried only if the job says so.</summary>
    Failed,
    /// <summary>The task was stopped because cancellation was requested.</summary>
    Cancelled,
    /// <summary>The worker could not run it (infrastructure error); retried automatically.</summary>
    Error,
    /// <summary>The lease expired: the worker vanished. Retried automatically.</summary>
    Lost,
    /// <summary>The attempt outlived its timeout. Retried automatically.</summary>
    TimedOut,
    /// <summary>A draining worker handed the work back unstarted: requeued at once, the attempt not counted.</summary>
    Released,
}

public enum ReportStatus { Recorded, Repeated, NotFound, LeaseNotHeld, LeaseExpired }

/// <summary>A worker's report that its task exited 0.</summary>
public sealed record SuccessReport(long WorkRequestId, Guid LeaseToken, int? ExitCode, string? Message);

/// <summary>The answer to a report: what was recorded, or why the report was refused.</summary>
public sealed record ReportResult(ReportStatus Status, ReportResponse? Response, string? Problem);

/// <summary>
/// Ends attempts: worker completions and failures, and the lease reaper's verdicts. Every
/// report is fenced by the lease token (a worker that lost its lease cannot overwrite the
/// next attempt), idempotent (a repeat finds the attempt row it wrote and gets the same
/// answer), and committed at most once per attempt.
/// </summary>
public sealed class ReportStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string ReadColumns = """
        state, workflow_id, attempt, worker_id, lease_token, lease_expires_at, deadline_at, started_at,
        cancel_requested, retry_on_failure, max_attempts, retry_base + released, backoff_seconds,
        ARRAY(SELECT work_request_id FROM dependencies WHERE depends_on_id = w.id), id
        """;

    private const string ReadSql = $"SELECT {ReadColumns} FROM work_requests w WHERE id = @id";

    private const string RecordedSql = """
        SELECT a.attempt, a.outcome, w.state FROM attempts a JOIN work_requests w ON w.id = a.work_request_id
        WHERE a.lease_token = @token AND a.work_request_id = @id
        """;

    /// <summary>
    /// Ends the attempt and propagates it, in one statement after the rows were locked in
    /// ascending order. Everything hangs on <c>ended</c>: the attempt is ended only if it is
    /// still the one the caller means — same lease token, still running, and (for a worker)
    /// the lease not yet expired or (for the reaper) expired. If not, nothing else changes
    /// and the caller reads the row again. Then: the attempt row is written; a success
    /// releases blocked dependents (pending at zero unmet); a final failure skips the
    /// dependents passed in @skip; the workflow's counters move by what changed; waiting
    /// claims are notified when work became pending.
    /// </summary>
    private const string EndAttemptSql = """
        WITH ended AS (
            UPDATE work_requests SET
                state = @state,
                lease_token = NULL, lease_expires_at = NULL, deadline_at = NULL,
                not_before = @not_before,
                -- requeued work queues from when its backoff ends
                claim_rank = CASE WHEN @state = 'pending' THEN priority - @queued_epoch / @aging END,
                finished_at = CASE WHEN @state = 'pending' THEN NULL ELSE @now END,
                released = released + CASE WHEN @outcome = 'released' THEN 1 ELSE 0 END
            WHERE id = @id AND state = 'running' AND lease_token = @token
              AND CASE WHEN @reaper THEN lease_expires_at < @now OR deadline_at < @now ELSE lease_expires_at >= @now END
            RETURNING id
        ), recorded AS (
            INSERT INTO attempts (work_request_id, attempt, worker_id, lease_token, started_at, finished_at, outcome, exit_code, message)
            SELECT id, @attempt, @worker, @token, @started, @now, @outcome, @exit_code, @message FROM ended
        ), released AS (
            UPDATE work_requests w SET
                unmet_deps = w.unmet_deps - 1,
                state = CASE WHEN w.unmet_deps = 1 THEN 'pending' ELSE 'blocked' END,
                claim_rank = CASE WHEN w.unmet_deps = 1 THEN w.priority - @now_epoch / @aging END
            FROM dependencies d, ended
            WHERE @state = 'succeeded' AND d.depends_on_id = @id AND d.depends_on_id = ended.id AND w.id = d.work_request_id AND w.state = 'blocked'
            RETURNING w.state
        ), skipped AS (
            UPDATE work_requests w SET state = 'skipped', finished_at = @now
            FROM ended
            WHERE w.id = ANY(@skip) AND w.state IN ('blocked', 'pending')
            RETURNING w.id
        ), changes AS (
            SELECT (SELECT count(*) FROM ended)::int AS ended,
                   (SELECT count(*) FROM released WHERE state = 'pending')::int AS released,
                   (SELECT count(*) FROM skipped)::int AS skipped
        ), workflow AS (
            UPDATE workflows f SET
                unfinished = f.unfinished - (@finished + c.skipped),
                succeeded = f.succeeded + @d_succeeded,
                failed = f.failed + @d_failed,
                skipped = f.skipped + c.skipped,
                cancelled = f.cancelled + @d_cancelled,
                state = CASE
                    WHEN f.unfinished - (@finished + c.skipped) > 0 THEN 'running'
                    WHEN f.failed + @d_failed > 0 THEN 'failed'
                    WHEN f.cancelled + @d_cancelled > 0 OR f.skipped + c.skipped > 0 THEN 'cancelled'
                    ELSE 'succeeded' END,
                finished_at = CASE WHEN f.unfinished - (@finished + c.skipped) > 0 THEN NULL ELSE @now END
            FROM changes c
            -- no write when nothing finished (a requeue leaves the workflow as it is)
            WHERE f.id = @workflow AND c.ended = 1 AND @finished + c.skipped > 0
        ), notified AS (
            -- the payload is how many rows became pending: that many waiting claims are woken
            SELECT pg_notify('kiln_work', (c.released + CASE WHEN @state = 'pending' THEN 1 ELSE 0 END)::text)
            FROM changes c WHERE c.ended = 1 AND (c.released > 0 OR @state = 'pending')
        )
        -- notified is referenced so that it runs: a plain SELECT in WITH is evaluated only when read
        SELECT c.ended, (SELECT count(*) FROM notified)::int FROM changes c
        """;

    private const string ExpiredSql = """
        SELECT id, lease_token, deadline_at < @now FROM work_requests
        WHERE state = 'running' AND (lease_expires_at < @now OR deadline_at < @now)
        ORDER BY id LIMIT @limit
        """;

    public Task<ReportResult> CompleteAsync(long id, Guid token, AttemptEnd end, int? exitCode, string? message, CancellationToken ct) =>
        EndAttemptAsync(id, token, end, exitCode, message, reaper: false, ct);

    /// <summary>
    /// Locks, in ascending id order, the reported rows and their dependents, then their workflows
    /// (the same order as every other transition: work requests first, workflow rows last).
    /// </summary>
    private static readonly string[] LockSucceededSql =
    [
        """
        SELECT id FROM work_requests
        WHERE id = ANY(ARRAY(SELECT unnest(@ids) UNION SELECT work_request_id FROM dependencies WHERE depends_on_id = ANY(@ids)))
        ORDER BY id FOR NO KEY UPDATE
        """,
        """
        SELECT id FROM workflows
        WHERE id = ANY(ARRAY(SELECT DISTINCT workflow_id FROM work_requests WHERE id = ANY(@ids)))
        ORDER BY id FOR NO KEY UPDATE
        """,
    ];

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
    private const string EndSucceededSql = """
        WITH input AS (
            SELECT * FROM unnest(@ids, @tokens, @exit_codes, @messages) AS i(id, token, exit_code, message)
        ), ended AS (
            UPDATE work_requests w SET
                state = 'succeeded',
                lease_token = NULL, lease_expires_at = NULL, deadline_at = NULL, not_before = NULL, claim_rank = NULL,
                finished_at = @now
            FROM input i
            WHERE w.id = ANY(@ids) AND w.id = i.id AND w.state = 'running' AND w.lease_token = i.token AND w.lease_expires_at >= @now
            RETURNING w.id, w.workflow_id, w.attempt, w.worker_id, w.started_at, i.token, i.exit_code, i.message
        ), recorded AS (
            INSERT INTO attempts (work_request_id, attempt, worker_id, lease_token, started_at, finished_at, outcome, exit_code, message)
            SELECT id, attempt, worker_id, token, started_at, @now, 'succeeded', exit_code, message FROM ended
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
                unfinished = f.unfinished - p.n,
                succeeded = f.succeeded + p.n,
                state = CASE
                    WHEN f.unfinished - p.n > 0 THEN 'running'
                    WHEN f.failed > 0 THEN 'failed'
                    WHEN f.cancelled > 0 OR f.skipped > 0 THEN 'cancelled'
                    ELSE 'succeeded' END,
                finished_at = CASE WHEN f.unfinished - p.n > 0 THEN NULL ELSE @now END
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
    public async Task<IReadOnlyList<ReportResult>> CompleteSucceededAsync(IReadOnlyList<SuccessReport> reports, CancellationToken ct)
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
            foreach (var sql in LockSucceededSql)
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand(sql) { Parameters = { new NpgsqlParameter<long[]>("ids", ids) } });
            }
            var end = new NpgsqlBatchCommand(EndSucceededSql);
            end.Parameters.Add(new NpgsqlParameter<long[]>("ids", ids));
            end.Parameters.Add(new NpgsqlParameter<Guid[]>("tokens", [.. first.Select(x => x.r.LeaseToken)]));
            end.Parameters.Add(new NpgsqlParameter<int?[]>("exit_codes", [.. first.Select(x => x.r.ExitCode)]));
            end.Parameters.Add(new NpgsqlParameter<string?[]>("messages", [.. first.Select(x => x.r.Message is { Length: > 4000 } m ? m[..4000] : x.r.Message)]));
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
            results[i] ??= await CompleteAsync(r.WorkRequestId, r.LeaseToken, AttemptEnd.Succeeded, r.ExitCode, r.Message, ct);
        }
        return results!;
    }

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
            var result = await EndAttemptAsync(id, token, end, null, message, reaper: true, ct);
            ended += result.Status == ReportStatus.Recorded ? 1 : 0;
        }
        return ended;
    }

    private async Task<ReportResult> EndAttemptAsync(
        long id, Guid token, AttemptEnd end, int? exitCode, string? message, bool reaper, CancellationToken ct)
    {
        // A concurrent transition (the reaper, a cancel) can change the row between the read
        // and the fenced update; then read again and decide afresh. Twice is plenty in practice.
        for (var round = 0; ; round++)
        {
            var result = await TryEndAttemptAsync(id, token, end, exitCode, message, reaper, ct);
            if (result is not null)
            {
                return result;
            }
            if (round == 5)
            {
                throw new InvalidOperationException($"work request {id} kept changing while its attempt was being ended");
            }
        }
    }

    private async Task<ReportResult?> TryEndAttemptAsync(
        long id, Guid token, AttemptEnd end, int? exitCode, string? message, bool reaper, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        Row? row = null;
        await using (var read = new NpgsqlCommand(ReadSql, conn))
        {
            read.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await using var reader = await read.ExecuteReaderAsync(ct);
            if (await reader.ReadAsync(ct))
            {
                row = ReadRow(reader, now);
            }
        }
        if (row is null)
        {
            return new(ReportStatus.NotFound, null, $"work request {id} does not exist");
        }
        if (row.State != WorkRequestState.Running || row.LeaseToken != token)
        {
            return await RepeatedOrRefusedAsync(conn, id, token, row, ct);
        }
        if (!reaper && row.LeaseExpiresAt < now)
        {
            return new(ReportStatus.LeaseExpired, null,
                $"the lease on work request {id} (attempt {row.Attempt}) expired at {row.LeaseExpiresAt:u}; the result is refused and the work will be retried");
        }

        var (outcome, next) = Decide(row, end);
        var notBefore = next == WorkRequestState.Pending && outcome != AttemptOutcome.Released
            ? now + RetryBackoff.Delay(row.Attempt - row.RetryBase, row.BackoffSeconds, Random.Shared.NextDouble())
            : (DateTimeOffset?)null;

        var failedFinally = WorkRequestState.IsFinal(next) && next != WorkRequestState.Succeeded;
        var descendants = failedFinally ? await Transitions.DescendantsAsync(conn, id, ct) : [];
        IEnumerable<long> changing = next == WorkRequestState.Succeeded ? row.Dependents : descendants;

        // One round trip, one implicit transaction: lock in ascending order, then end and propagate.
        await using var batch = new NpgsqlBatch(conn);
        batch.BatchCommands.Add(Transitions.LockAscendingCommand([id, .. changing]));
        batch.BatchCommands.Add(EndAttemptCommand(id, token, row, next, outcome, notBefore, now, reaper, exitCode, message, descendants));

        await using (var reader = await batch.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                // the lock statement's rows
            }
            await reader.NextResultAsync(ct);
            await reader.ReadAsync(ct);
            if (reader.GetInt32(0) == 0)
            {
                return null;
            }
        }
        return new(ReportStatus.Recorded, new ReportResponse(id, next, row.Attempt, outcome), null);
    }

    private static NpgsqlBatchCommand EndAttemptCommand(
        long id, Guid token, Row row, string next, string outcome, DateTimeOffset? notBefore, DateTimeOffset now, bool reaper,
        int? exitCode, string? message, List<long> descendants)
    {
        var endAttempt = new NpgsqlBatchCommand(EndAttemptSql);
        var p = endAttempt.Parameters;
        p.Add(new NpgsqlParameter<long>("id", id));
        p.Add(new NpgsqlParameter<Guid>("token", token));
        p.Add(new NpgsqlParameter<string>("state", next));
        p.Add(new NpgsqlParameter<DateTimeOffset?>("not_before", notBefore));
        p.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        p.Add(new NpgsqlParameter<bool>("reaper", reaper));
        p.Add(new NpgsqlParameter<double>("queued_epoch", (notBefore ?? now).ToUnixTimeMilliseconds() / 1000.0));
        p.Add(new NpgsqlParameter<double>("now_epoch", now.ToUnixTimeMilliseconds() / 1000.0));
        p.Add(new NpgsqlParameter<double>("aging", FairShare.AgingSecondsPerPoint));
        p.Add(new NpgsqlParameter<int>("attempt", row.Attempt));
        p.Add(new NpgsqlParameter<long?>("worker", row.WorkerId));
        p.Add(new NpgsqlParameter<DateTimeOffset>("started", row.StartedAt));
        p.Add(new NpgsqlParameter<string>("outcome", outcome));
        p.Add(new NpgsqlParameter<int?>("exit_code", exitCode));
        p.Add(new NpgsqlParameter<string?>("message", message is { Length: > 4000 } ? message[..4000] : message));
        p.Add(new NpgsqlParameter<long[]>("skip", [.. descendants]));
        p.Add(new NpgsqlParameter<long>("workflow", row.WorkflowId));
        var finished = FinishedCounts.For(next);
        p.Add(new NpgsqlParameter<int>("finished", finished.Finished));
        p.Add(new NpgsqlParameter<int>("d_succeeded", finished.Succeeded));
        p.Add(new NpgsqlParameter<int>("d_failed", finished.Failed));
        p.Add(new NpgsqlParameter<int>("d_cancelled", finished.Cancelled));
        return endAttempt;
    }

    private static Row ReadRow(NpgsqlDataReader reader, DateTimeOffset now) => new(
        reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2),
        reader.IsDBNull(3) ? null : reader.GetInt64(3),
        reader.IsDBNull(4) ? null : reader.GetGuid(4),
        reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
        reader.IsDBNull(7) ? now : reader.GetFieldValue<DateTimeOffset>(7),
        reader.GetBoolean(8), reader.GetBoolean(9), reader.GetInt32(10), reader.GetInt32(11), reader.GetInt32(12),
        reader.GetFieldValue<long[]>(13), reader.GetInt64(14));

    /// <summary>The token is not the running attempt's: either a repeat of a recorded report, or a stale worker.</summary>
    private static async Task<ReportResult> RepeatedOrRefusedAsync(NpgsqlConnection conn, long id, Guid token, Row row, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(RecordedSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<Guid>("token", token));
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (await reader.ReadAsync(ct))
        {
            var attempt = reader.GetInt32(0);
            var outcome = reader.GetString(1);
            // Lost and timed-out attempts were ended by the reaper, not by this worker: its
            // report arrives too late to count.
            if (outcome is AttemptOutcome.Lost or AttemptOutcome.TimedOut)
            {
                return new(ReportStatus.LeaseExpired, null,
                    $"attempt {attempt} of work request {id} was already ended as '{outcome}' after its lease expired; the result is refused (the work request is now {row.State})");
            }
            return new(ReportStatus.Repeated, new ReportResponse(id, reader.GetString(2), attempt, outcome), null);
        }
        return new(ReportStatus.LeaseNotHeld, null,
            $"this lease does not hold work request {id}: it is {row.State}" + (row.State == WorkRequestState.Running ? $" as attempt {row.Attempt} under another lease" : ""));
    }

    /// <summary>The retry rules: infrastructure trouble retries automatically, a task's own failure only when the job asks.</summary>
    private static (string Outcome, string NextState) Decide(Row row, AttemptEnd end)
    {
        var budgetLeft = row.Attempt < row.RetryBase + row.MaxAttempts;
        if (end == AttemptEnd.Cancelled && !row.CancelRequested)
        {
            // Nobody asked: a worker stopping its task (e.g. shutting down) is an infrastructure error.
            end = AttemptEnd.Error;
        }
        return end switch
        {
            AttemptEnd.Released => (AttemptOutcome.Released, row.CancelRequested ? WorkRequestState.Cancelled : WorkRequestState.Pending),
            AttemptEnd.Succeeded => (AttemptOutcome.Succeeded, WorkRequestState.Succeeded),
            AttemptEnd.Cancelled => (AttemptOutcome.Cancelled, WorkRequestState.Cancelled),
            AttemptEnd.Failed => (AttemptOutcome.Failed,
                row.CancelRequested ? WorkRequestState.Cancelled
                : row.RetryOnFailure && budgetLeft ? WorkRequestState.Pending
                : WorkRequestState.Failed),
            _ => (end switch { AttemptEnd.Lost => AttemptOutcome.Lost, AttemptEnd.TimedOut => AttemptOutcome.TimedOut, _ => AttemptOutcome.Error },
                row.CancelRequested ? WorkRequestState.Cancelled
                : budgetLeft ? WorkRequestState.Pending
                : WorkRequestState.Failed),
        };
    }

    private sealed record Row(
        string State, long WorkflowId, int Attempt, long? WorkerId, Guid? LeaseToken, DateTimeOffset? LeaseExpiresAt,
        DateTimeOffset StartedAt, bool CancelRequested, bool RetryOnFailure, int MaxAttempts, int RetryBase, int BackoffSeconds,
        long[] Dependents, long Id);
}
