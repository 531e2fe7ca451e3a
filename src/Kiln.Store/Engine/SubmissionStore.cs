using System.Text.Json;
using Kiln.Core;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Engine;

/// <summary>Outcome of storing a plan: the workflow id, and whether it was new.</summary>
/// <param name="SameDocument">For an existing workflow (<paramref name="Created"/> false): whether it was submitted
/// with the same document. A different document under the same idempotency key is the caller's mistake, not a repeat.</param>
/// <param name="EventId">The event that made the workflow (for an existing one: the event that made it first).</param>
public sealed record SubmissionResult(long WorkflowId, bool Created, int WorkRequests, bool SameDocument = true, long? EventId = null);

/// <summary>
/// What made a workflow besides its submitter, and what holds it (docs/events.md).
/// </summary>
/// <param name="EventId">The event it was made from.</param>
/// <param name="RuleId">The trigger rule (trigger_rules.id) that matched; with <paramref name="InputKey"/> unique per project:
/// a second submission with the same rule and input key stores nothing and answers the first workflow.</param>
/// <param name="Hold"><see cref="WorkflowState.Held"/> (storm guard) or <see cref="WorkflowState.Queued"/> (concurrency group):
/// stored with that state and its root work requests gated, so nothing is claimable until it is released.</param>
public sealed record WorkflowOrigin(
    long? EventId = null, long? RuleId = null, string? InputKey = null, string? Hold = null,
    string? ConcurrencyGroup = null, bool CancelInProgress = false);

/// <summary>
/// Stores a validated <see cref="WorkflowPlan"/> in one transaction, set-based. A small
/// workflow (the common one: a package's build and tests) is one statement over arrays in one
/// round trip, commit included. A large one allocates ids in one round trip, then work requests
/// and edges go in by binary COPY: a 10,000-node graph is a handful of round trips, not tens of
/// thousands of INSERTs (Debusine's hours-long graph creation). Either the whole workflow is
/// stored or nothing.
/// </summary>
public sealed class SubmissionStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>A no-op when the project exists (ON CONFLICT DO NOTHING writes no tuple).</summary>
    private const string EnsureProjectSql = """
        INSERT INTO projects (name, created_at) VALUES (@name, @now) ON CONFLICT (name) DO NOTHING
        """;

    private const string ProjectSql = "SELECT id, base_priority FROM projects WHERE name = @name";

    /// <summary>
    /// The unique (project, idempotency key) constraint makes duplicates impossible: a second
    /// submitter waits for the first to commit, then inserts nothing and reads the winner's id.
    /// </summary>
    private const string InsertWorkflowSql = """
        INSERT INTO workflows (project_id, name, idempotency_key, trigger, state, total, unfinished, document, created_at, deadline_at, submitted_by,
            event_id, rule_id, input_key, hold_state, concurrency_group, cancel_in_progress)
        VALUES (@project, @name, @key, @trigger, COALESCE(@hold, 'running'), @total, @total, @document, @now, @deadline, @submitted_by,
            @event_id, @rule_id, @input_key, @hold, @group, @cancel_in_progress)
        ON CONFLICT DO NOTHING
        RETURNING id
        """;

    /// <summary>jsonb equality ignores key order and spacing: the same document, however written, is a repeat.</summary>
    private const string ExistingWorkflowSql = """
        SELECT id, total, document = @document, event_id FROM workflows WHERE project_id = @project AND idempotency_key = @key
        """;

    /// <summary>The workflow a rule already made for this input key (the unique index workflows_rule_input).</summary>
    private const string ExistingForInputSql = """
        SELECT id, total, document = @document, event_id FROM workflows WHERE project_id = @project AND rule_id = @rule AND input_key = @input_key
        """;

    private const string AllocateIdsSql = """
        SELECT nextval(pg_get_serial_sequence('work_requests', 'id')) FROM generate_series(1, @count)
        """;

    private const string CopyWorkRequestsSql = """
        COPY work_requests (id, workflow_id, project_id, name, state, queue, architecture, tags, priority, claim_rank, run, env, outputs,
            timeout_seconds, max_attempts, retry_on_failure, backoff_seconds, unmet_deps, created_at, allow_failure, secrets, execution)
        FROM STDIN (FORMAT BINARY)
        """;

    private const string CopyDependenciesSql = "COPY dependencies (work_request_id, depends_on_id) FROM STDIN (FORMAT BINARY)";

    /// <summary>The outbox targets of a large workflow (<see cref="Outbox.OutboxTargets.InsertSql"/>), after its work requests are copied in.</summary>
    private static readonly string LargeTargetsSql = $"""
        WITH reported AS (
            {Outbox.OutboxTargets.InsertSql("(SELECT @workflow::bigint AS id, @project::bigint AS project_id)", "(SELECT id, name FROM work_requests WHERE workflow_id = @workflow)")}
        )
        SELECT pg_notify('{Outbox.OutboxTargets.Channel}', '') WHERE EXISTS (SELECT 1 FROM reported)
        """;

    /// <summary>Up to this size a workflow is stored by <see cref="SmallWorkflowSql"/>; beyond, by COPY.</summary>
    public const int SmallWorkflowMax = 256;

    /// <summary>
    /// A whole small workflow in one statement: the workflow row (nothing at all when its
    /// idempotency key exists), its work requests from arrays with ids drawn in plan order
    /// (dependency order, so parents get smaller ids), its edges by position, and the
    /// notification for the pending ones.
    /// </summary>
    private static readonly string SmallWorkflowSql = $"""
        WITH project AS (
            SELECT id, base_priority FROM projects WHERE name = @project
        ), workflow AS (
            INSERT INTO workflows (project_id, name, idempotency_key, trigger, state, total, unfinished, document, created_at, deadline_at, submitted_by,
            event_id, rule_id, input_key, hold_state, concurrency_group, cancel_in_progress)
            SELECT id, @name, @key, @trigger, COALESCE(@hold, 'running'), @total, @total, @document, @now, @deadline, @submitted_by,
                @event_id, @rule_id, @input_key, @hold, @group, @cancel_in_progress FROM project
            ON CONFLICT DO NOTHING
            RETURNING id, project_id
        ), jobs AS (
            SELECT nextval(pg_get_serial_sequence('work_requests', 'id')) AS id, j.*
            FROM (
                SELECT * FROM unnest(@names, @states, @queues, @archs, @tags, @priorities, @runs, @envs, @outputs,
                                     @timeouts, @max_attempts, @retry, @backoff, @unmet, @allow_failure, @secrets, @executions)
                    WITH ORDINALITY AS u(name, state, queue, arch, tags, priority, run, env, outputs, timeout, max_attempts, retry, backoff, unmet, allow_failure, secrets, execution, ord)
                WHERE EXISTS (SELECT 1 FROM workflow)
                ORDER BY ord
            ) j
        ), inserted AS (
            INSERT INTO work_requests (id, workflow_id, project_id, name, state, queue, architecture, tags, priority, claim_rank, run, env, outputs,
                timeout_seconds, max_attempts, retry_on_failure, backoff_seconds, unmet_deps, created_at, allow_failure, secrets, execution)
            SELECT j.id, f.id, f.project_id, j.name, j.state, j.queue, j.arch, ARRAY(SELECT jsonb_array_elements_text(j.tags)),
                p.base_priority + j.priority,
                CASE WHEN j.unmet = 0 THEN p.base_priority + j.priority - @now_epoch / @aging END,
                j.run, j.env, ARRAY(SELECT jsonb_array_elements_text(j.outputs)), j.timeout, j.max_attempts, j.retry, j.backoff, j.unmet, @now, j.allow_failure,
                -- the secret names as jsonb arrays, like tags: unnest flattens a text[][]
                ARRAY(SELECT jsonb_array_elements_text(j.secrets)),
                NULLIF(j.execution, 'null'::jsonb)
            FROM jobs j, workflow f, project p
            RETURNING id, name
        ), reported AS (
            {Outbox.OutboxTargets.InsertSql("workflow", "inserted")}
        ), edges AS (
            INSERT INTO dependencies (work_request_id, depends_on_id)
            SELECT a.id, b.id FROM unnest(@edge_from, @edge_to) AS e(from_ord, to_ord)
            JOIN jobs a ON a.ord = e.from_ord JOIN jobs b ON b.ord = e.to_ord
            RETURNING 1
        ), notified AS (
            SELECT pg_notify('{WorkSignal.Channel}', (@pending)::text) FROM workflow WHERE @pending > 0
        ), notified_status AS (
            SELECT pg_notify('{Outbox.OutboxTargets.Channel}', '') WHERE EXISTS (SELECT 1 FROM reported)
        )
        SELECT f.id, (SELECT count(*) FROM inserted)::int, (SELECT count(*) FROM edges)::int, (SELECT count(*) FROM notified)::int,
            (SELECT count(*) FROM notified_status)::int
        FROM workflow f
        """;

    /// <param name="submittedBy">The user submitting it (recorded: a contributor may cancel and retry its own work).</param>
    /// <param name="origin">The event and rule it comes from, and its hold; null for a plain submission.</param>
    public async Task<SubmissionResult> SubmitAsync(WorkflowPlan plan, string documentJson, CancellationToken ct, long? submittedBy = null, WorkflowOrigin? origin = null)
    {
        var now = time.GetUtcNow();
        origin ??= NoOrigin;
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        if (plan.WorkRequests.Count <= SmallWorkflowMax && plan.EdgeCount <= 4 * SmallWorkflowMax)
        {
            return await SubmitSmallAsync(conn, plan, documentJson, now, submittedBy, origin, ct);
        }
        var (projectId, basePriority) = await EnsureProjectAsync(conn, plan.Project, now, ct);

        await using var tx = await conn.BeginTransactionAsync(ct);
        long workflowId;
        await using (var insert = new NpgsqlCommand(InsertWorkflowSql, conn))
        {
            insert.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            insert.Parameters.Add(new NpgsqlParameter<string>("name", plan.Name));
            insert.Parameters.Add(new NpgsqlParameter("key", NpgsqlDbType.Text) { Value = (object?)plan.IdempotencyKey ?? DBNull.Value });
            insert.Parameters.Add(new NpgsqlParameter<string>("trigger", plan.Trigger));
            insert.Parameters.Add(new NpgsqlParameter<int>("total", plan.WorkRequests.Count));
            insert.Parameters.Add(new NpgsqlParameter("document", NpgsqlDbType.Jsonb) { Value = documentJson });
            insert.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            insert.Parameters.Add(new NpgsqlParameter<DateTimeOffset?>("deadline", Deadline(plan, origin, now)));
            insert.Parameters.Add(new NpgsqlParameter<long?>("submitted_by", submittedBy));
            AddOrigin(insert.Parameters, origin);
            var id = await insert.ExecuteScalarAsync(ct);
            if (id is null)
            {
                await tx.RollbackAsync(ct);
                return await ExistingAsync(conn, projectId, plan, origin, documentJson, ct);
            }
            workflowId = (long)id;
        }

        var ids = await AllocateIdsAsync(conn, plan.WorkRequests.Count, ct);
        var gate = Gate(origin);
        var pending = 0;
        await using (var copy = await conn.BeginBinaryImportAsync(CopyWorkRequestsSql, ct))
        {
            for (var i = 0; i < plan.WorkRequests.Count; i++)
            {
                var w = plan.WorkRequests[i];
                var unmet = w.Needs.Count + (w.Needs.Count == 0 ? gate : 0);
                pending += unmet == 0 ? 1 : 0;
                await copy.StartRowAsync(ct);
                await copy.WriteAsync(ids[i], NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(workflowId, NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(projectId, NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(w.Name, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(unmet == 0 ? WorkRequestState.Pending : WorkRequestState.Blocked, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(w.Queue, NpgsqlDbType.Text, ct);
                if (w.Architecture is null)
                {
                    await copy.WriteNullAsync(ct);
                }
                else
                {
                    await copy.WriteAsync(w.Architecture, NpgsqlDbType.Text, ct);
                }
                await copy.WriteAsync(w.Tags.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text, ct);
                var priority = basePriority + w.Priority;
                await copy.WriteAsync(priority, NpgsqlDbType.Integer, ct);
                if (unmet == 0)
                {
                    await copy.WriteAsync(FairShare.ClaimRank(priority, now), NpgsqlDbType.Double, ct);
                }
                else
                {
                    await copy.WriteNullAsync(ct);
                }
                await copy.WriteAsync(w.Run, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(JsonSerializer.Serialize(w.Env), NpgsqlDbType.Jsonb, ct);
                await copy.WriteAsync(w.Outputs.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text, ct);
                await copy.WriteAsync(w.TimeoutSeconds, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(w.MaxAttempts, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(w.RetryOnFailure, NpgsqlDbType.Boolean, ct);
                await copy.WriteAsync(w.BackoffSeconds, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(unmet, NpgsqlDbType.Integer, ct);
                await copy.WriteAsync(now, NpgsqlDbType.TimestampTz, ct);
                await copy.WriteAsync(w.AllowFailure, NpgsqlDbType.Boolean, ct);
                await copy.WriteAsync(w.Secrets.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text, ct);
                if (w.Resolved is null)
                {
                    await copy.WriteNullAsync(ct);
                }
                else
                {
                    await copy.WriteAsync(ExecutionJson.Serialize(w.Resolved), NpgsqlDbType.Jsonb, ct);
                }
            }
            await copy.CompleteAsync(ct);
        }

        if (plan.EdgeCount > 0)
        {
            await using var copy = await conn.BeginBinaryImportAsync(CopyDependenciesSql, ct);
            for (var i = 0; i < plan.WorkRequests.Count; i++)
            {
                foreach (var need in plan.WorkRequests[i].Needs)
                {
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(ids[i], NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(ids[need], NpgsqlDbType.Bigint, ct);
                }
            }
            await copy.CompleteAsync(ct);
        }

        if (pending > 0)
        {
            await Transitions.NotifyWorkAvailableAsync(conn, pending, ct);
        }
        await using (var report = new NpgsqlCommand(LargeTargetsSql, conn))
        {
            report.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
            report.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            report.Parameters.Add(new NpgsqlParameter<long?>("event_id", origin.EventId));
            report.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            await report.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return new SubmissionResult(workflowId, true, plan.WorkRequests.Count);
    }

    /// <summary>One round trip, one implicit transaction: the project made sure of, then <see cref="SmallWorkflowSql"/>.</summary>
    private static async Task<SubmissionResult> SubmitSmallAsync(
        NpgsqlConnection conn, WorkflowPlan plan, string documentJson, DateTimeOffset now, long? submittedBy, WorkflowOrigin origin, CancellationToken ct)
    {
        var w = plan.WorkRequests;
        var gate = Gate(origin);
        int Unmet(PlannedWorkRequest x) => x.Needs.Count + (x.Needs.Count == 0 ? gate : 0);
        var store = new NpgsqlBatchCommand(SmallWorkflowSql);
        var p = store.Parameters;
        p.Add(new NpgsqlParameter<string>("project", plan.Project));
        p.Add(new NpgsqlParameter<string>("name", plan.Name));
        p.Add(new NpgsqlParameter("key", NpgsqlDbType.Text) { Value = (object?)plan.IdempotencyKey ?? DBNull.Value });
        p.Add(new NpgsqlParameter<string>("trigger", plan.Trigger));
        p.Add(new NpgsqlParameter<int>("total", w.Count));
        p.Add(new NpgsqlParameter("document", NpgsqlDbType.Jsonb) { Value = documentJson });
        p.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        p.Add(new NpgsqlParameter<DateTimeOffset?>("deadline", Deadline(plan, origin, now)));
        p.Add(new NpgsqlParameter<long?>("submitted_by", submittedBy));
        AddOrigin(p, origin);
        p.Add(new NpgsqlParameter<double>("now_epoch", now.ToUnixTimeMilliseconds() / 1000.0));
        p.Add(new NpgsqlParameter<double>("aging", FairShare.AgingSecondsPerPoint));
        p.Add(new NpgsqlParameter<string[]>("names", [.. w.Select(x => x.Name)]));
        p.Add(new NpgsqlParameter<string[]>("states", [.. w.Select(x => Unmet(x) == 0 ? WorkRequestState.Pending : WorkRequestState.Blocked)]));
        p.Add(new NpgsqlParameter<string[]>("queues", [.. w.Select(x => x.Queue)]));
        p.Add(new NpgsqlParameter<string?[]>("archs", [.. w.Select(x => x.Architecture)]));
        p.Add(new NpgsqlParameter("tags", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = w.Select(x => JsonSerializer.Serialize(x.Tags)).ToArray() });
        p.Add(new NpgsqlParameter<int[]>("priorities", [.. w.Select(x => x.Priority)]));
        p.Add(new NpgsqlParameter<string[]>("runs", [.. w.Select(x => x.Run)]));
        p.Add(new NpgsqlParameter("envs", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = w.Select(x => JsonSerializer.Serialize(x.Env)).ToArray() });
        p.Add(new NpgsqlParameter("outputs", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = w.Select(x => JsonSerializer.Serialize(x.Outputs)).ToArray() });
        p.Add(new NpgsqlParameter<int[]>("timeouts", [.. w.Select(x => x.TimeoutSeconds)]));
        p.Add(new NpgsqlParameter<int[]>("max_attempts", [.. w.Select(x => x.MaxAttempts)]));
        p.Add(new NpgsqlParameter<bool[]>("retry", [.. w.Select(x => x.RetryOnFailure)]));
        p.Add(new NpgsqlParameter<int[]>("backoff", [.. w.Select(x => x.BackoffSeconds)]));
        p.Add(new NpgsqlParameter<int[]>("unmet", [.. w.Select(Unmet)]));
        p.Add(new NpgsqlParameter<bool[]>("allow_failure", [.. w.Select(x => x.AllowFailure)]));
        p.Add(new NpgsqlParameter("secrets", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = w.Select(x => JsonSerializer.Serialize(x.Secrets)).ToArray() });
        p.Add(new NpgsqlParameter("executions", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = w.Select(x => x.Resolved is null ? "null" : ExecutionJson.Serialize(x.Resolved)).ToArray() });
        // Edges by 1-based position in the plan (WITH ORDINALITY).
        p.Add(new NpgsqlParameter<long[]>("edge_from", [.. w.SelectMany((x, i) => x.Needs.Select(_ => (long)i + 1))]));
        p.Add(new NpgsqlParameter<long[]>("edge_to", [.. w.SelectMany(x => x.Needs.Select(n => (long)n + 1))]));
        p.Add(new NpgsqlParameter<int>("pending", w.Count(x => Unmet(x) == 0)));

        // BEGIN goes with the batch: one round trip to store, one to commit once the counts are checked.
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using var batch = new NpgsqlBatch(conn, tx)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(EnsureProjectSql) { Parameters = { new NpgsqlParameter<string>("name", plan.Project), new NpgsqlParameter<DateTimeOffset>("now", now) } },
                store,
            },
        };
        long? workflowId = null;
        await using (var reader = await batch.ExecuteReaderAsync(ct))
        {
            // (the INSERT without RETURNING has no result set: the reader starts at the statement's)
            if (await reader.ReadAsync(ct))
            {
                if (reader.GetInt32(1) != w.Count || reader.GetInt32(2) != plan.EdgeCount)
                {
                    throw new InvalidOperationException(
                        $"storing workflow '{plan.Name}' wrote {reader.GetInt32(1)} of {w.Count} work requests and {reader.GetInt32(2)} of {plan.EdgeCount} edges; nothing was kept");
                }
                workflowId = reader.GetInt64(0);
            }
        }
        if (workflowId is { } id)
        {
            await tx.CommitAsync(ct);
            return new SubmissionResult(id, true, w.Count);
        }
        await tx.RollbackAsync(ct);
        var (projectId, _) = await EnsureProjectAsync(conn, plan.Project, now, ct);
        return await ExistingAsync(conn, projectId, plan, origin, documentJson, ct);
    }

    private static readonly WorkflowOrigin NoOrigin = new();

    /// <summary>A held or queued workflow's roots wait for one more "dependency": its release (<see cref="WorkflowHolds"/>).</summary>
    private static int Gate(WorkflowOrigin origin) => origin.Hold is null ? 0 : 1;

    private static void AddOrigin(NpgsqlParameterCollection p, WorkflowOrigin origin)
    {
        if (origin.Hold is not (null or WorkflowState.Held or WorkflowState.Queued))
        {
            throw new ArgumentException($"'{origin.Hold}' is not a hold; use held or queued", nameof(origin));
        }
        p.Add(new NpgsqlParameter<long?>("event_id", origin.EventId));
        p.Add(new NpgsqlParameter<long?>("rule_id", origin.RuleId));
        p.Add(new NpgsqlParameter("input_key", NpgsqlDbType.Text) { Value = (object?)origin.InputKey ?? DBNull.Value });
        p.Add(new NpgsqlParameter("hold", NpgsqlDbType.Text) { Value = (object?)origin.Hold ?? DBNull.Value });
        p.Add(new NpgsqlParameter("group", NpgsqlDbType.Text) { Value = (object?)origin.ConcurrencyGroup ?? DBNull.Value });
        p.Add(new NpgsqlParameter<bool>("cancel_in_progress", origin.CancelInProgress));
    }

    /// <summary>A held workflow's clock starts when it is released (<see cref="WorkflowHolds"/> sets the deadline then).</summary>
    private static DateTimeOffset? Deadline(WorkflowPlan plan, WorkflowOrigin origin, DateTimeOffset now) =>
        plan.TimeoutSeconds is { } seconds && origin.Hold is null ? now.AddSeconds(seconds) : null;

    private static async Task<(long Id, int BasePriority)> EnsureProjectAsync(NpgsqlConnection conn, string name, DateTimeOffset now, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(EnsureProjectSql) { Parameters = { new NpgsqlParameter<string>("name", name), new NpgsqlParameter<DateTimeOffset>("now", now) } },
                new NpgsqlBatchCommand(ProjectSql) { Parameters = { new NpgsqlParameter<string>("name", name) } },
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            throw new InvalidOperationException($"project '{name}' vanished while a workflow was being submitted");
        }
        return (reader.GetInt64(0), reader.GetInt32(1));
    }

    /// <summary>The workflow the submission conflicted with: by idempotency key, else by rule and input key.</summary>
    private static async Task<SubmissionResult> ExistingAsync(
        NpgsqlConnection conn, long projectId, WorkflowPlan plan, WorkflowOrigin origin, string documentJson, CancellationToken ct)
    {
        var byKey = plan.IdempotencyKey is not null;
        if (!byKey && (origin.RuleId is null || origin.InputKey is null))
        {
            throw new InvalidOperationException($"workflow '{plan.Name}' conflicted with a stored one but has neither idempotency key nor rule and input key");
        }
        await using var cmd = new NpgsqlCommand(byKey ? ExistingWorkflowSql : ExistingForInputSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        if (byKey)
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("key", plan.IdempotencyKey!));
        }
        else
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("rule", origin.RuleId!.Value));
            cmd.Parameters.Add(new NpgsqlParameter<string>("input_key", origin.InputKey!));
        }
        cmd.Parameters.Add(new NpgsqlParameter("document", NpgsqlDbType.Jsonb) { Value = documentJson });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            throw new InvalidOperationException(byKey
                ? $"the workflow with idempotency key '{plan.IdempotencyKey}' conflicted but cannot be read"
                : $"the workflow of rule {origin.RuleId} for input '{origin.InputKey}' conflicted but cannot be read");
        }
        return new SubmissionResult(reader.GetInt64(0), false, reader.GetInt32(1), reader.GetBoolean(2), reader.IsDBNull(3) ? null : reader.GetInt64(3));
    }

    private static async Task<long[]> AllocateIdsAsync(NpgsqlConnection conn, int count, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(AllocateIdsSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<int>("count", count));
        var ids = new long[count];
        var i = 0;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids[i++] = reader.GetInt64(0);
        }
        // Plan order is dependency order; ascending ids keep it, so parents have smaller ids.
        Array.Sort(ids);
        return ids;
    }
}
