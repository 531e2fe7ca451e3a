using System.Text.Json;
using Kiln.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Engine;

/// <summary>A worker as the engine needs it for matching: what it offers, and what its pool lets it serve.</summary>
/// <param name="Approved">False while its pool's approval is pending (as of authentication; the claim reads the row itself).</param>
public sealed record WorkerIdentity(long Id, string Name, string[] Architectures, string[] Tags, string[] Queues, int Slots, PoolScope Pool, bool Approved);

/// <summary>
/// The worker's side of the lifecycle: claiming work and renewing leases. Both are single
/// statements; neither holds a lock beyond its own statement.
/// </summary>
public sealed class ClaimStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>
    /// One atomic statement per queue. Fair share (see <see cref="Core.FairShare"/>): projects
    /// are visited in order of running ÷ weight in this queue, and each contributes its
    /// best few eligible rows, read from the pending index in aged-priority order; the nested
    /// loop stops once enough candidates are found, so a claim never scans all pending rows.
    /// Rows are locked with SKIP LOCKED as they are read: a row another claim holds is passed
    /// over for the next one, never waited for, and a row another claim just took fails the
    /// re-check. Candidates are ranked as if each slot were handed out in turn (a project's
    /// n-th row counts as n−1 more running); at most slots × 4 rows are locked per claim.
    /// </summary>
    internal const string ClaimSql = """
        WITH pool AS MATERIALIZED (
            -- the worker's pool, read here rather than from the cached identity: a pool an admin
            -- narrowed, and a worker disabled, removed or not yet approved, apply to the next claim
            -- on every replica. One row (two primary-key probes), none when this worker may not
            -- claim from this queue now
            SELECT wp.id, wp.project_ids, wp.exclude_private,
                   -- the projects that trust this pool with their secrets (a pool's few trusts)
                   ARRAY(SELECT t.project_id FROM project_trusted_pools t WHERE t.pool_id = wp.id) AS trusted_by
            FROM workers k JOIN worker_pools wp ON wp.id = k.pool_id
            WHERE k.id = @worker AND k.disabled_at IS NULL AND k.removed_at IS NULL AND k.approved_at IS NOT NULL
              AND (cardinality(wp.queues) = 0 OR @queue = ANY(wp.queues))
        ), running AS (
            -- one row per busy slot of the farm, from a partial index: fair share compares
            -- running work in this queue; the cap counts a project's running work everywhere
            SELECT project_id, (count(*) FILTER (WHERE queue = @queue))::int AS in_queue, count(*)::int AS total
            FROM work_requests WHERE state = 'running'
            GROUP BY project_id
        ), fair_order AS (
            SELECT p.id, p.weight, p.max_running, coalesce(r.in_queue, 0) AS running, coalesce(r.total, 0) AS total
            -- FULL JOIN, not LEFT: every running row has its project, so it adds no row, and
            -- the planner can only hash or merge it. Statistics taken while nothing ran
            -- estimate one running row; a nested loop planned on that compares every project
            -- with every running count (27 ms instead of 1.5 in the claim bench, seen with a
            -- variant of this statement)
            FROM projects p FULL JOIN running r ON r.project_id = p.id
            -- a project at its cap gets nothing until one of its slots frees up
            WHERE (p.max_running IS NULL OR coalesce(r.total, 0) < p.max_running)
              -- only the pool's projects (none listed: every project; no pool row: none), and no
              -- private project for a pool that excludes them; both read once, as InitPlans
              AND (cardinality((SELECT project_ids FROM pool)) = 0 OR p.id = ANY((SELECT project_ids FROM pool)::bigint[]))
              AND (p.visibility = 'public' OR NOT (SELECT exclude_private FROM pool))
            ORDER BY coalesce(r.in_queue, 0)::float8 / p.weight, p.id
        ), nearest AS (
            -- the nested loop visits projects in fair order and stops after @slots * 4 rows:
            -- nothing in here may need all rows (no window or ORDER BY over the join)
            SELECT c.id, c.claim_rank, c.nth, f.running, f.weight
            FROM fair_order f
            CROSS JOIN LATERAL (
                SELECT l.id, l.claim_rank, row_number() OVER (ORDER BY l.claim_rank DESC, l.id) AS nth
                FROM (
                    SELECT w.id, w.claim_rank FROM work_requests w
                    WHERE w.state = 'pending' AND w.project_id = f.id AND w.queue = @queue
                      -- unset architecture means any; otherwise the worker must build for it
                      AND (w.architecture IS NULL OR w.architecture = ANY(@architectures))
                      -- every required tag must be offered
                      AND w.tags <@ @tags
                      -- retry backoff: not before its time
                      AND (w.not_before IS NULL OR w.not_before <= @now)
                      -- never hand out work someone asked to cancel (a cancel ends waiting
                      -- work at once; this holds even if a mark outlived its attempt)
                      AND NOT w.cancel_requested
                      -- a job that names secrets goes only to a pool its project trusts
                      -- (checked only for such rows: the trusts are read once, as an InitPlan)
                      AND (cardinality(w.secrets) = 0 OR f.id = ANY((SELECT trusted_by FROM pool)::bigint[]))
                    ORDER BY w.claim_rank DESC, w.id
                    LIMIT @slots
                    -- locked as read: a row another claim holds is skipped for the project's
                    -- next one, so racing claims never come back empty while work is pending
                    FOR UPDATE SKIP LOCKED
                ) l
            ) c
            WHERE f.max_running IS NULL OR f.total + c.nth <= f.max_running
            LIMIT @slots * 4
        ), chosen AS MATERIALIZED (
            -- the best @slots of the (few) locked candidates, as if slots were handed out in
            -- turn: a project's n-th row counts as n-1 more running
            SELECT id FROM nearest
            -- a worker an operator disabled or removed, one waiting for approval, and one whose
            -- pool does not serve this queue get nothing, even on a replica that still trusts
            -- its cached secret: a one-time filter, so when it fails nothing below runs and no
            -- row is locked
            WHERE EXISTS (SELECT 1 FROM pool)
            ORDER BY (running + nth - 1)::float8 / weight, claim_rank DESC, id
            LIMIT @slots
        )
        UPDATE work_requests w SET
            state = 'running',
            attempt = w.attempt + 1,
            worker_id = @worker,
            lease_token = gen_random_uuid(),
            lease_expires_at = @now + @lease,
            deadline_at = @now + make_interval(secs => w.timeout_seconds),
            started_at = @now,
            not_before = NULL,
            claim_rank = NULL,
            -- the worker's claim id, so that a repeat of this claim finds what it took
            -- (the row is written anyway: no extra write)
            claim_id = @claim_id
        FROM chosen c
        WHERE w.id = c.id
        RETURNING
        """ + " " + AssignmentColumns;

    /// <summary>What an assignment carries, for the claim's RETURNING and for a repeated claim.</summary>
    private const string AssignmentColumns = """
        w.id, w.workflow_id, w.name, w.attempt, w.lease_token, w.lease_expires_at, w.run, w.env, w.outputs, w.timeout_seconds,
            -- OFFSET 0 keeps the per-dependency primary-key lookup from being flattened into a join
            (SELECT coalesce(jsonb_object_agg(p.name, p.id), '{}') FROM dependencies d
             CROSS JOIN LATERAL (SELECT p.name, p.id FROM work_requests p WHERE p.id = d.depends_on_id OFFSET 0) p
             WHERE d.work_request_id = w.id),
            w.secrets, w.execution
        """;

    /// <summary>
    /// A repeated claim (the worker never got the answer): the work that claim took and the
    /// worker still holds, with the same lease tokens, read from the partial index of running
    /// rows by worker. Work the claim took that has ended since is not handed out again.
    /// </summary>
    private const string RepeatedClaimSql = """
        SELECT
        """ + " " + AssignmentColumns + " " + """
        FROM work_requests w
        WHERE w.worker_id = @worker AND w.state = 'running' AND w.claim_id = @claim_id
        ORDER BY w.id
        """;

    /// <summary>
    /// Sent just before the claim in its batch (the same round trip and the same implicit
    /// transaction, which the setting lasts for): the prepared claim runs its cached generic
    /// plan instead of being planned again on every call (planning cost 0.49 ms a claim, more
    /// than executing it). Left to itself PostgreSQL compares the generic plan's estimate with
    /// the average of the first custom plans on each connection, and with one-slot claims the
    /// generic estimate (<c>LIMIT @slots * 4</c> unknown) loses every time. Both plans have the
    /// same nodes; only the values in them differ. Local to the transaction: nothing else on
    /// the pooled connection sees it.
    /// </summary>
    private const string GenericPlanSql = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)";

    /// <summary>
    /// Renews the leases this worker still holds: fenced on (worker, lease token), so a token
    /// of another worker's attempt renews nothing and answers 'lost'. A lease younger than half
    /// its length is left alone: renewing it would be a write that changes nothing that
    /// matters. The rows to renew are locked first, in ascending id order whatever order the
    /// worker lists them in (the protocol of <see cref="Transitions"/>). The outer query reads
    /// the rows as they were before the update, hence the coalesce.
    /// </summary>
    private static readonly string HeartbeatSql = $"""
        WITH held AS (
            SELECT * FROM unnest(@ids, @tokens) AS l(id, token)
        ), locked AS MATERIALIZED (
            {Transitions.LockSql(Renewable + " AND EXISTS (SELECT 1 FROM unnest(@ids, @tokens) AS h(id, token) WHERE h.id = w.id AND h.token = w.lease_token)")}
        ), renewed AS (
            UPDATE work_requests w SET lease_expires_at = @now + @lease
            FROM held
            WHERE w.id = ANY(ARRAY(SELECT id FROM locked)) AND w.id = held.id AND w.lease_token = held.token AND {Renewable}
            RETURNING w.id, w.lease_expires_at
        )
        SELECT held.id,
            CASE
                WHEN w.id IS NULL OR w.state <> 'running' OR w.lease_token IS DISTINCT FROM held.token
                     OR w.worker_id IS DISTINCT FROM @worker
                     OR (r.id IS NULL AND w.lease_expires_at < @now) THEN 'lost'
                WHEN w.cancel_requested THEN 'cancel'
                ELSE 'ok' END,
            CASE WHEN w.worker_id = @worker THEN coalesce(r.lease_expires_at, w.lease_expires_at) END
        FROM held
        LEFT JOIN work_requests w ON w.id = held.id
        LEFT JOIN renewed r ON r.id = held.id
        """;

    private const string Renewable = """
        w.id = ANY(@ids) AND w.worker_id = @worker AND w.state = 'running'
              AND w.lease_expires_at >= @now AND w.lease_expires_at < @now + @lease / 2
        """;

    /// <summary>
    /// Last-seen is the worker's liveness: the reaper ends the leases of a worker silent for
    /// <see cref="LeaseReaper.WorkerSilence"/>. Refreshed at most every 5 s, so a heartbeat every
    /// 10 s writes the worker row once (O(workers) writes, none per running job) and a burst
    /// of claims does not rewrite it each time. last_seen_at is in no index, so the write is HOT.
    /// </summary>
    private const string TouchWorkerSql = """
        UPDATE workers SET last_seen_at = @now WHERE id = @worker AND last_seen_at < @now - interval '5 seconds'
        """;

    /// <summary>
    /// Claims up to <paramref name="slots"/> work requests, serving the worker's queues in the
    /// order it lists them (a builder that also publishes takes builds first). With a claim id
    /// that already took work, answers with that work instead (see <see cref="RepeatedClaimSql"/>).
    /// </summary>
    public async Task<IReadOnlyList<Assignment>> ClaimAsync(WorkerIdentity worker, int slots, TimeSpan lease, CancellationToken ct, Guid? claimId = null)
    {
        var now = time.GetUtcNow();
        var assignments = new List<Assignment>();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        if (claimId is { } repeated)
        {
            await using var cmd = new NpgsqlCommand(RepeatedClaimSql, conn);
            cmd.Parameters.Add(new NpgsqlParameter<long>("worker", worker.Id));
            cmd.Parameters.Add(new NpgsqlParameter<Guid>("claim_id", repeated));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                assignments.Add(ReadAssignment(reader));
            }
            if (assignments.Count > 0)
            {
                return assignments;
            }
        }
        // The worker's queues that its pool serves (as of its authentication; the statement
        // checks the pool again), in the worker's order.
        foreach (var queue in worker.Queues.Where(worker.Pool.ServesQueue))
        {
            if (assignments.Count == slots)
            {
                break;
            }
            await using var batch = new NpgsqlBatch(conn);
            if (assignments.Count == 0)
            {
                batch.BatchCommands.Add(TouchWorker(worker.Id, now));
            }
            batch.BatchCommands.Add(new NpgsqlBatchCommand(GenericPlanSql));
            var claim = new NpgsqlBatchCommand(ClaimSql);
            claim.Parameters.Add(new NpgsqlParameter<string>("queue", queue));
            claim.Parameters.Add(new NpgsqlParameter<string[]>("architectures", worker.Architectures));
            claim.Parameters.Add(new NpgsqlParameter<string[]>("tags", worker.Tags));
            claim.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            claim.Parameters.Add(new NpgsqlParameter<int>("slots", slots - assignments.Count));
            claim.Parameters.Add(new NpgsqlParameter<long>("worker", worker.Id));
            claim.Parameters.Add(new NpgsqlParameter<TimeSpan>("lease", lease));
            claim.Parameters.Add(new NpgsqlParameter("claim_id", NpgsqlDbType.Uuid) { Value = (object?)claimId ?? DBNull.Value });
            batch.BatchCommands.Add(claim);
            await using var reader = await batch.ExecuteReaderAsync(ct);
            // The touch returns no rows and is passed over; the first result is set_config's
            // own value, then come the claim's rows.
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                assignments.Add(ReadAssignment(reader));
            }
        }
        return assignments;
    }

    public async Task<IReadOnlyList<LeaseStatus>> HeartbeatAsync(long workerId, IReadOnlyList<LeaseRef> leases, TimeSpan lease, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var batch = dataSource.CreateBatch();
        var statuses = new List<LeaseStatus>(leases.Count);
        if (leases.Count > 0)
        {
            var heartbeat = new NpgsqlBatchCommand(HeartbeatSql);
            heartbeat.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. leases.Select(l => l.WorkRequestId)]));
            heartbeat.Parameters.Add(new NpgsqlParameter<Guid[]>("tokens", [.. leases.Select(l => l.LeaseToken)]));
            heartbeat.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            heartbeat.Parameters.Add(new NpgsqlParameter<TimeSpan>("lease", lease));
            heartbeat.Parameters.Add(new NpgsqlParameter<long>("worker", workerId));
            batch.BatchCommands.Add(heartbeat);
        }
        batch.BatchCommands.Add(TouchWorker(workerId, now));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            statuses.Add(new LeaseStatus(reader.GetInt64(0), reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2)));
        }
        return statuses;
    }

    private static Assignment ReadAssignment(NpgsqlDataReader reader) => new(
        WorkRequestId: reader.GetInt64(0),
        WorkflowId: reader.GetInt64(1),
        Name: reader.GetString(2),
        Attempt: reader.GetInt32(3),
        LeaseToken: reader.GetGuid(4),
        LeaseExpiresAt: reader.GetFieldValue<DateTimeOffset>(5),
        Run: reader.GetString(6),
        Env: JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(7)) ?? [],
        Outputs: reader.GetFieldValue<string[]>(8),
        TimeoutSeconds: reader.GetInt32(9),
        NeedsArtifacts: JsonSerializer.Deserialize<Dictionary<string, long>>(reader.GetString(10)) ?? [],
        SecretNames: reader.GetFieldValue<string[]>(11) is { Length: > 0 } names ? names : null,
        Execution: reader.IsDBNull(12) ? null : ExecutionJson.Deserialize(reader.GetString(12)));

    private static NpgsqlBatchCommand TouchWorker(long workerId, DateTimeOffset now)
    {
        var touch = new NpgsqlBatchCommand(TouchWorkerSql);
        touch.Parameters.Add(new NpgsqlParameter<long>("worker", workerId));
        touch.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        return touch;
    }
}
