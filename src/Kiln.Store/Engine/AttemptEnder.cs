using Kiln.Contracts;
using Kiln.Core;
using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>
/// The single-attempt end: one report of a worker, or one verdict of the reaper. Fenced by
/// the lease token (a worker that lost its lease cannot overwrite the next attempt),
/// idempotent (a repeat finds the attempt row it wrote and gets the recorded answer), and
/// committed at most once per attempt. What the attempt leads to is
/// <see cref="RetryRules.Decide"/>'s call.
/// </summary>
internal sealed class AttemptEnder(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string ReadColumns = """
        state, workflow_id, attempt, worker_id, lease_token, lease_expires_at, deadline_at, started_at,
        cancel_requested, retry_on_failure, max_attempts, retry_base + released, backoff_seconds,
        ARRAY(SELECT work_request_id FROM dependencies WHERE depends_on_id = w.id), id, allow_failure
        """;

    private const string ReadSql = $"SELECT {ReadColumns} FROM work_requests w WHERE id = @id";

    /// <summary>
    /// The recorded answer to a repeated report: the attempt's outcome and the state it led to
    /// when it was recorded (attempts recorded before next_state existed answer the current state).
    /// Only the worker that held the attempt gets it (the reaper's own ends have no worker check).
    /// </summary>
    private const string RecordedSql = """
        SELECT a.attempt, a.outcome, coalesce(a.next_state, w.state) FROM attempts a JOIN work_requests w ON w.id = a.work_request_id
        WHERE a.lease_token = @token AND a.work_request_id = @id AND (@worker IS NULL OR a.worker_id = @worker)
        """;

    /// <summary>
    /// Ends the attempt and propagates it, in one statement after the rows were locked in
    /// ascending order and the decision was taken on what was read under those locks.
    /// Everything hangs on <c>ended</c>. Then: the attempt row is written; a success — or
    /// the failure of a job with allow-failure (@releases) — releases blocked dependents
    /// (pending at zero unmet); any other final failure skips the dependents passed in @skip; the workflow's counters move by what changed; waiting
    /// claims are notified when work became pending.
    /// </summary>
    private static readonly string EndAttemptSql = $"""
        WITH ended AS (
            UPDATE work_requests SET
                state = @state,
                lease_token = NULL, lease_expires_at = NULL, deadline_at = NULL,
                not_before = @not_before,
                -- requeued work queues from when its backoff ends
                claim_rank = CASE WHEN @state = 'pending' THEN priority - @queued_epoch / @aging END,
                finished_at = CASE WHEN @state = 'pending' THEN NULL ELSE @now END,
                released = released + CASE WHEN @outcome = 'released' THEN 1 ELSE 0 END
            -- the row is locked and was checked under the lock; this re-states the fence
            WHERE id = @id AND state = 'running' AND lease_token = @token
            RETURNING id
        ), recorded AS (
            -- next_state is the answer a repeat of this report gets: what the attempt led to
            INSERT INTO attempts (work_request_id, attempt, worker_id, lease_token, started_at, finished_at, outcome, exit_code, message, next_state)
            SELECT id, @attempt, @worker, @token, @started, @now, @outcome, @exit_code, @message, @next_state FROM ended
        ), released AS (
            UPDATE work_requests w SET
                unmet_deps = w.unmet_deps - 1,
                state = CASE WHEN w.unmet_deps = 1 THEN 'pending' ELSE 'blocked' END,
                claim_rank = CASE WHEN w.unmet_deps = 1 THEN w.priority - @now_epoch / @aging END
            FROM dependencies d, ended
            WHERE @releases AND d.depends_on_id = @id AND d.depends_on_id = ended.id AND w.id = d.work_request_id AND w.state = 'blocked'
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
                {WorkflowCounters.Set("f.unfinished - (@finished + c.skipped)", "f.succeeded + @d_succeeded", "f.failed + @d_failed", "f.skipped + c.skipped", "f.cancelled + @d_cancelled", "f.allowed_failures + @d_allowed")}
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

    /// <summary>
    /// Ends the attempt held by <paramref name="token"/>. A worker's report passes its id
    /// (<paramref name="workerId"/>): the attempt must be that worker's, or the report is
    /// refused like a stale lease and the other worker's attempt is untouched. The reaper
    /// passes null and ends only an attempt whose lease or deadline has passed.
    /// </summary>
    public async Task<ReportResult> EndAsync(
        long? workerId, long id, Guid token, AttemptEnd end, int? exitCode, string? message, CancellationToken ct)
    {
        var reaper = workerId is null;
        var now = time.GetUtcNow();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // Lock, then read, then decide: the row cannot change between what is read here and
        // the end written below (a cancel, the reaper or a retry waits for this transaction).
        var row = await LockAndReadAsync(conn, id, now, ct);
        if (row is null)
        {
            return new(ReportStatus.NotFound, null, $"work request {id} does not exist");
        }
        if (row.State != WorkRequestState.Running || row.LeaseToken != token || (!reaper && row.WorkerId != workerId))
        {
            return await RepeatedOrRefusedAsync(conn, workerId, id, token, row, ct);
        }
        if (!reaper && row.LeaseExpiresAt < now)
        {
            return new(ReportStatus.LeaseExpired, null,
                $"the lease on work request {id} (attempt {row.Attempt}) expired at {row.LeaseExpiresAt:u}; the result is refused and the work will be retried");
        }
        if (reaper && !(row.LeaseExpiresAt < now || row.DeadlineAt < now))
        {
            // Renewed since the reaper listed it: nothing to reap.
            return new(ReportStatus.LeaseNotHeld, null, $"the lease on work request {id} was renewed");
        }

        var (outcome, next) = RetryRules.Decide(end, row.Attempt, row.RetryBase, row.MaxAttempts, row.RetryOnFailure, row.CancelRequested);
        var notBefore = next == WorkRequestState.Pending && RetryRules.BacksOff(outcome)
            ? now + RetryBackoff.Delay(row.Attempt - row.RetryBase, row.BackoffSeconds, Random.Shared.NextDouble())
            : (DateTimeOffset?)null;

        // allow-failure: the failure is recorded and counted, but propagates as a success would (a cancel still skips).
        var allowedFailure = next == WorkRequestState.Failed && row.AllowFailure;
        var releases = next == WorkRequestState.Succeeded || allowedFailure;
        var failedFinally = WorkRequestState.IsFinal(next) && !releases;
        var descendants = failedFinally ? await Transitions.DescendantsAsync(conn, id, ct) : [];
        // Dependents and descendants have larger ids than the row: still ascending.
        await Transitions.LockAboveAsync(conn, id, releases ? row.Dependents : descendants, ct);
        await using (var endAttempt = EndAttemptCommand(conn, id, token, row, next, outcome, notBefore, now, exitCode, message, descendants, releases, allowedFailure))
        {
            await endAttempt.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return new(ReportStatus.Recorded, new ReportResponse(id, next, row.Attempt, outcome), null);
    }

    private static async Task<Row?> LockAndReadAsync(NpgsqlConnection conn, long id, DateTimeOffset now, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn);
        batch.BatchCommands.Add(Transitions.LockRowsCommand([id]));
        batch.BatchCommands.Add(new NpgsqlBatchCommand(ReadSql) { Parameters = { new NpgsqlParameter<long>("id", id) } });
        await using var reader = await batch.ExecuteReaderAsync(ct);
        await reader.NextResultAsync(ct);
        return await reader.ReadAsync(ct) ? ReadRow(reader, now) : null;
    }

    private static NpgsqlCommand EndAttemptCommand(
        NpgsqlConnection conn, long id, Guid token, Row row, string next, string outcome, DateTimeOffset? notBefore, DateTimeOffset now,
        int? exitCode, string? message, List<long> descendants, bool releases, bool allowedFailure)
    {
        var endAttempt = new NpgsqlCommand(EndAttemptSql, conn);
        var p = endAttempt.Parameters;
        p.Add(new NpgsqlParameter<long>("id", id));
        p.Add(new NpgsqlParameter<Guid>("token", token));
        p.Add(new NpgsqlParameter<string>("state", next));
        p.Add(new NpgsqlParameter<DateTimeOffset?>("not_before", notBefore));
        p.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        p.Add(new NpgsqlParameter<double>("queued_epoch", (notBefore ?? now).ToUnixTimeMilliseconds() / 1000.0));
        p.Add(new NpgsqlParameter<double>("now_epoch", now.ToUnixTimeMilliseconds() / 1000.0));
        p.Add(new NpgsqlParameter<double>("aging", FairShare.AgingSecondsPerPoint));
        p.Add(new NpgsqlParameter<int>("attempt", row.Attempt));
        p.Add(new NpgsqlParameter<long?>("worker", row.WorkerId));
        p.Add(new NpgsqlParameter<DateTimeOffset>("started", row.StartedAt));
        p.Add(new NpgsqlParameter<string>("outcome", outcome));
        p.Add(new NpgsqlParameter<string>("next_state", next));
        p.Add(new NpgsqlParameter<int?>("exit_code", exitCode));
        p.Add(new NpgsqlParameter<string?>("message", ReportText.ForDatabase(message)));
        p.Add(new NpgsqlParameter<long[]>("skip", [.. descendants]));
        p.Add(new NpgsqlParameter<bool>("releases", releases));
        p.Add(new NpgsqlParameter<int>("d_allowed", allowedFailure ? 1 : 0));
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
        reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
        reader.IsDBNull(7) ? now : reader.GetFieldValue<DateTimeOffset>(7),
        reader.GetBoolean(8), reader.GetBoolean(9), reader.GetInt32(10), reader.GetInt32(11), reader.GetInt32(12),
        reader.GetFieldValue<long[]>(13), reader.GetInt64(14), reader.GetBoolean(15));

    /// <summary>The token is not the running attempt's: either a repeat of a recorded report, or a stale worker.</summary>
    private static async Task<ReportResult> RepeatedOrRefusedAsync(NpgsqlConnection conn, long? workerId, long id, Guid token, Row row, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(RecordedSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter("worker", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)workerId ?? DBNull.Value });
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

    private sealed record Row(
        string State, long WorkflowId, int Attempt, long? WorkerId, Guid? LeaseToken, DateTimeOffset? LeaseExpiresAt,
        DateTimeOffset? DeadlineAt, DateTimeOffset StartedAt, bool CancelRequested, bool RetryOnFailure, int MaxAttempts, int RetryBase, int BackoffSeconds,
        long[] Dependents, long Id, bool AllowFailure);
}
