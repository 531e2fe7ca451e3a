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
                {WorkflowCounters.Set("f.unfinished - (@finished + c.skipped)", "f.succeeded + @d_succeeded", "f.failed + @d_failed", "f.skipped + c.skipped", "f.cancelled + @d_cancelled")}
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

    public async Task<ReportResult> EndAsync(
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

        var (outcome, next) = RetryRules.Decide(end, row.Attempt, row.RetryBase, row.MaxAttempts, row.RetryOnFailure, row.CancelRequested);
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

    private sealed record Row(
        string State, long WorkflowId, int Attempt, long? WorkerId, Guid? LeaseToken, DateTimeOffset? LeaseExpiresAt,
        DateTimeOffset StartedAt, bool CancelRequested, bool RetryOnFailure, int MaxAttempts, int RetryBase, int BackoffSeconds,
        long[] Dependents, long Id);
}
