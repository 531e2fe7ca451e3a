using System.Data.Common;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Engine;

/// <summary>Filters for listing work requests; all optional.</summary>
public sealed record WorkRequestFilter(long? WorkflowId, string? State, string? Queue, string? Project);

/// <summary>
/// Read side: workflows and work requests for the API. Every list is keyset-paginated
/// (<c>id &lt; @after</c> or <c>id &gt; @after</c>, never OFFSET) and served by an index
/// whose leading columns are the filter, the state and the id, so page 1,000 costs what
/// page 1 costs and a rare or empty match costs what a common one does
/// (ListPlanTests checks every filter shape's plan at 1M rows).
/// </summary>
public sealed class QueryStore(NpgsqlDataSource dataSource)
{
    private const string WorkflowColumns = """
        w.id, w.name, p.name, w.state, w.total, w.unfinished, w.succeeded, w.failed, w.skipped, w.cancelled, w.created_at, w.finished_at, w.allowed_failures,
        w.event_id, CASE WHEN w.rule_id IS NOT NULL THEN (SELECT tr.name FROM trigger_rules tr WHERE tr.id = w.rule_id) END,
        w.input_key, w.concurrency_group, w.superseded_by
        """;

    private const string WorkRequestColumns = """
        r.id, r.workflow_id, r.name, r.state, r.attempt, r.queue, r.architecture, r.created_at, r.started_at, r.finished_at
        """;

    /// <summary>
    /// Newest first. Each filter shape is its own statement, so the planner sees only the
    /// conditions that apply (an <c>@x IS NULL OR …</c> condition cannot be an index bound).
    /// No filter: the primary key; state: (state, id); project and state: (project_id, state,
    /// id). Project alone reads that index's range for each of the four states and merges
    /// them, so one index serves both. The project's id is resolved first
    /// (<see cref="ProjectIdSql"/>) and passed as a value. With a filter, the page's ids come
    /// from <see cref="StateRange"/> and their rows by primary key.
    /// </summary>
    private static string ListWorkflowsSql(bool project, bool state)
    {
        var prefix = project ? "w.project_id = @project_id AND " : "";
        string Branch(string s) => $"SELECT w.id FROM workflows w WHERE {prefix}{StateRange("w", s, newestFirst: true)} ORDER BY w.state DESC, w.id DESC LIMIT @limit";
        var where = !project && !state
            ? "w.id < @after"
            : $"w.id = ANY (ARRAY({(state ? Branch("@state") : $"SELECT k.id FROM ({EachState(WorkflowState.All, s => Branch($"'{s}'"))}) k ORDER BY k.id DESC LIMIT @limit")}))";
        return $"""
            SELECT {WorkflowColumns}
            FROM workflows w JOIN projects p ON p.id = w.project_id
            WHERE {where}
            ORDER BY w.id DESC
            LIMIT @limit
            """;
    }

    /// <summary>
    /// The ids of a filtered page, read from one index only, whatever the statistics say.
    /// Two parts make it so. The page of one state is a range of (state, id) after the
    /// equality columns of an index (…, state, id), ordered by state and id — written as row
    /// comparisons, not <c>state = @s AND id &gt; @after</c>, because PostgreSQL drops a
    /// column compared to a constant from the ORDER BY, and "ORDER BY id" let a walk of the
    /// primary key with a filter compete; with hundreds of projects the estimate of an empty
    /// (project, state) was 28,000 rows and that walk read all 1,000,000. And the list's
    /// batch turns index scans (not index-only scans), bitmap scans, sequential scans and
    /// sorts off (<see cref="ListSettingsSql"/>), so the only plan for the ids without a
    /// disabled step is an index-only scan, in order, of the one index that holds every
    /// column the filter names and whose columns after its equalities are (state, id): an
    /// index of (state, id) that filtered the project would need the heap, and one with
    /// another column before the state would need a sort (the row comparison's estimate is
    /// useless for choosing: it is costed from its first column with the strict operator, so
    /// "state &gt; 'succeeded'" looks empty). The LIMIT then reads just the page: btree ends
    /// the range on its state (the first member of the comparison, after equalities). Ids are
    /// identities from 1, so 0 and bigint's maximum bound "every id". The rows are then read
    /// by primary key, a disabled index scan that is still the cheapest way to 51 ids.
    /// </summary>
    private static string StateRange(string t, string state, bool newestFirst) => newestFirst
        ? $"({t}.state, {t}.id) < ({state}, @after) AND ({t}.state, {t}.id) > ({state}, 0)"
        : $"({t}.state, {t}.id) > ({state}, @after) AND ({t}.state, {t}.id) < ({state}, 9223372036854775807)";

    /// <summary>
    /// One branch per state, each with the state as a literal and reading at most @limit rows
    /// of its own range, merged by the caller's ORDER BY.
    /// </summary>
    private static string EachState(IEnumerable<string> states, Func<string, string> branch) =>
        string.Join(" UNION ALL ", states.Select(s => $"({branch(s)})"));

    private static readonly string GetWorkflowSql = $"""
        SELECT {WorkflowColumns} FROM workflows w JOIN projects p ON p.id = w.project_id WHERE w.id = @id
        """;

    private static readonly string JobsOfWorkflowSql = $"""
        SELECT {WorkRequestColumns} FROM work_requests r WHERE r.workflow_id = @id ORDER BY r.id
        """;

    /// <summary>
    /// Oldest first, so a follower of a workflow's queue pages forward. One statement per
    /// filter shape (see <see cref="ListWorkflowsSql"/> for why), each a range of
    /// (state, id) (<see cref="StateRange"/>) in an index whose leading columns are its
    /// equality filters, then state, then id (0004_list_indexes.sql): workflow →
    /// (workflow_id, state, id); project → (project_id, state, id); queue → (queue, state, id);
    /// project and queue → (project_id, queue, state, id); state alone → (state, id); nothing →
    /// the primary key. Without a state filter each of the seven states' ranges is read in id
    /// order (at most @limit rows each) and merged.
    /// A workflow bounds the rows to its own (≤ 50,000 by the submission limits), so with a
    /// workflow a queue is a filter within it, and a project is checked once on the workflow
    /// row (every request has its workflow's project) instead of choosing a project index.
    /// The queue is checked on the entries of (workflow_id, state, id) INCLUDE (queue)
    /// (0011_workflow_list_queue.sql), so the page's ids still come from an index-only scan
    /// (a rare queue in a 50,000-job workflow costs one pass over the workflow's index
    /// entries, not 50,000 heap rows).
    /// </summary>
    private static string ListWorkRequestsSql(WorkRequestFilter f)
    {
        var prefix = "";
        var filter = "";
        if (f.WorkflowId is not null)
        {
            prefix += "r.workflow_id = @workflow AND ";
            if (f.Project is not null)
            {
                // uncorrelated, so a one-time filter: the workflow's rows are read only if it is the project's
                filter += " AND EXISTS (SELECT 1 FROM workflows wf WHERE wf.id = @workflow AND wf.project_id = @project_id)";
            }
            if (f.Queue is not null)
            {
                filter += " AND r.queue = @queue";
            }
        }
        else
        {
            prefix += (f.Project is not null ? "r.project_id = @project_id AND " : "") + (f.Queue is not null ? "r.queue = @queue AND " : "");
        }
        string Branch(string s) => $"SELECT r.id FROM work_requests r WHERE {prefix}{StateRange("r", s, newestFirst: false)}{filter} ORDER BY r.state, r.id LIMIT @limit";
        var anyFilter = f.WorkflowId is not null || f.Project is not null || f.Queue is not null;
        var where = !anyFilter && f.State is null
            ? "r.id > @after"
            : $"r.id = ANY (ARRAY({(f.State is not null ? Branch("@state") : $"SELECT k.id FROM ({EachState(WorkRequestState.All, s => Branch($"'{s}'"))}) k ORDER BY k.id LIMIT @limit")}))";
        return $"""
            SELECT {WorkRequestColumns}
            FROM work_requests r
            WHERE {where}
            ORDER BY r.id
            LIMIT @limit
            """;
    }

    private const string ProjectIdSql = "SELECT id FROM projects WHERE name = @project";

    /// <summary>
    /// Sent with each list in its batch (one implicit transaction, which the settings last
    /// for). A list is planned for its own values (the server auto-prepares statements, and a
    /// generic plan is costed for an average one), and with every kind of scan but the
    /// index-only scan, and sorting, turned off: see <see cref="StateRange"/> for why. Off
    /// means "costed as a last resort", so the unfiltered list's primary-key walk, the rows
    /// fetched by id and the merge of the per-state pages still run, as the cheapest of
    /// their kind.
    /// </summary>
    internal const string ListSettingsSql = """
        SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
               set_config('enable_indexscan', 'off', true),
               set_config('enable_bitmapscan', 'off', true),
               set_config('enable_seqscan', 'off', true),
               set_config('enable_sort', 'off', true)
        """;

    private static readonly string GetWorkRequestSql = $"""
        SELECT {WorkRequestColumns}, p.name, r.tags, r.run, r.env, r.outputs, r.timeout_seconds, r.max_attempts,
               r.retry_on_failure, r.cancel_requested, r.not_before,
               ARRAY(SELECT depends_on_id FROM dependencies WHERE work_request_id = r.id ORDER BY 1),
               -- Who runs the current attempt: attempts gets its row only when the attempt ends.
               (SELECT name FROM workers WHERE id = r.worker_id AND r.state = 'running'),
               r.execution::text
        FROM work_requests r JOIN projects p ON p.id = r.project_id WHERE r.id = @id
        """;

    private const string AttemptsSql = """
        SELECT a.attempt, a.worker_id, k.name, a.started_at, a.finished_at, a.outcome, a.exit_code, a.message
        FROM attempts a LEFT JOIN workers k ON k.id = a.worker_id
        WHERE a.work_request_id = @id ORDER BY a.attempt
        """;

    /// <summary>
    /// A list for a caller who may not see some private projects leaves their rows out: it walks
    /// the primary key with that filter (and the state's), with the planner's usual settings. The
    /// tuned statements above serve everyone else (admins, and every caller while no private
    /// project is hidden from it) and every list of one project.
    /// </summary>
    private static readonly string ListVisibleWorkflowsSql = $"""
        SELECT {WorkflowColumns}
        FROM workflows w JOIN projects p ON p.id = w.project_id
        WHERE w.id < @after AND NOT (w.project_id = ANY (@hidden)) AND (@state::text IS NULL OR w.state = @state::text)
        ORDER BY w.id DESC
        LIMIT @limit
        """;

    private static readonly string ListVisibleWorkRequestsSql = $"""
        SELECT {WorkRequestColumns}
        FROM work_requests r
        WHERE r.id > @after AND NOT (r.project_id = ANY (@hidden))
          AND (@state::text IS NULL OR r.state = @state::text) AND (@queue::text IS NULL OR r.queue = @queue::text)
        ORDER BY r.id
        LIMIT @limit
        """;

    /// <param name="hidden">Projects to leave out (private ones the caller may not see); null: none.</param>
    public async Task<Page<WorkflowView>> ListWorkflowsAsync(string? project, string? state, long? after, int limit, CancellationToken ct, long[]? hidden = null)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        long? projectId = null;
        if (project is not null && (projectId = await ProjectIdAsync(conn, project, ct)) is null)
        {
            return new Page<WorkflowView>([], null);
        }
        if (hidden is not null && projectId is null)
        {
            await using var visible = new NpgsqlCommand(ListVisibleWorkflowsSql, conn);
            visible.Parameters.Add(new NpgsqlParameter<long>("after", after ?? long.MaxValue));
            visible.Parameters.Add(new NpgsqlParameter<long[]>("hidden", hidden));
            visible.Parameters.Add(new NpgsqlParameter("state", NpgsqlDbType.Text) { Value = (object?)state ?? DBNull.Value });
            visible.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
            var page = new List<WorkflowView>();
            await using var rows = await visible.ExecuteReaderAsync(ct);
            while (await rows.ReadAsync(ct))
            {
                page.Add(ReadWorkflow(rows, null));
            }
            return Paging.Of(page, limit, w => w.Id);
        }
        await using var batch = ListBatch(conn, ListWorkflowsCommand(projectId, state, after, limit + 1));
        var items = new List<WorkflowView>();
        await using var reader = await batch.ExecuteReaderAsync(ct);
        await reader.NextResultAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(ReadWorkflow(reader, jobs: null));
        }
        return Paging.Of(items, limit, w => w.Id);
    }

    /// <summary>
    /// The web interface's workflow search: newest first by id (keyset), every filter optional —
    /// project, state, trigger, submitter (a user's name), the branch of the event that made it, and
    /// a creation time range. A walk of the primary key backwards that stops at the page, so a
    /// common match costs a page and a rare one at most a pass over the workflows (not their jobs).
    /// </summary>
    public async Task<Page<WorkflowView>> SearchWorkflowsAsync(WorkflowSearch search, long? after, int limit, CancellationToken ct, long[]? hidden = null)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        long? projectId = null;
        if (search.Project is { } project && (projectId = await ProjectIdAsync(conn, project, ct)) is null)
        {
            return new Page<WorkflowView>([], null);
        }
        await using var cmd = new NpgsqlCommand($"""
            SELECT {WorkflowColumns} FROM workflows w JOIN projects p ON p.id = w.project_id
            WHERE {WorkflowSearch.Where} AND w.id < @after
            ORDER BY w.id DESC
            LIMIT @limit
            """, conn);
        search.Bind(cmd.Parameters, projectId, hidden);
        cmd.Parameters.Add(new NpgsqlParameter<long>("after", after ?? long.MaxValue));
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<WorkflowView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(ReadWorkflow(reader, jobs: null));
        }
        return Paging.Of(items, limit, w => w.Id);
    }

    /// <summary>How many workflows <paramref name="search"/> matches, counted up to <paramref name="cap"/> + 1.</summary>
    public async Task<int> CountWorkflowsAsync(WorkflowSearch search, int cap, CancellationToken ct, long[]? hidden = null)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        long? projectId = null;
        if (search.Project is { } project && (projectId = await ProjectIdAsync(conn, project, ct)) is null)
        {
            return 0;
        }
        await using var cmd = new NpgsqlCommand($"SELECT count(*)::int FROM (SELECT 1 FROM workflows w WHERE {WorkflowSearch.Where} LIMIT @cap) x", conn);
        search.Bind(cmd.Parameters, projectId, hidden);
        cmd.Parameters.Add(new NpgsqlParameter<int>("cap", cap + 1));
        return (int)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>The list statement for this filter shape with its parameters (tests EXPLAIN it).</summary>
    internal static NpgsqlCommand ListWorkflowsCommand(long? projectId, string? state, long? after, int rows)
    {
        var project = projectId is not null;
        var cmd = new NpgsqlCommand(ListWorkflowsSql(project, state is not null));
        // Newest first: no cursor means "below every id".
        cmd.Parameters.Add(new NpgsqlParameter<long>("after", after ?? long.MaxValue));
        if (projectId is { } id)
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("project_id", id));
        }
        if (state is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("state", state));
        }
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", rows));
        return cmd;
    }

    /// <summary>The id of a project by name, or null when there is none (its lists are empty).</summary>
    internal static async Task<long?> ProjectIdAsync(NpgsqlConnection conn, string project, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(ProjectIdSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("project", project));
        return await cmd.ExecuteScalarAsync(ct) is long id ? id : null;
    }

    private static NpgsqlBatch ListBatch(NpgsqlConnection conn, NpgsqlCommand list)
    {
        var batch = new NpgsqlBatch(conn);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(ListSettingsSql));
        var command = new NpgsqlBatchCommand(list.CommandText);
        foreach (NpgsqlParameter p in list.Parameters)
        {
            command.Parameters.Add(p.Clone());
        }
        batch.BatchCommands.Add(command);
        list.Dispose();
        return batch;
    }

    public async Task<WorkflowView?> GetWorkflowAsync(long id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        // One snapshot for the workflow and its jobs, so counters and job states agree.
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var jobs = new List<WorkRequestSummary>();
        await using (var cmd = new NpgsqlCommand(JobsOfWorkflowSql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                jobs.Add(ReadSummary(reader, 0));
            }
        }
        await using (var cmd = new NpgsqlCommand(GetWorkflowSql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            return await reader.ReadAsync(ct) ? ReadWorkflow(reader, jobs) : null;
        }
    }

    /// <param name="hidden">Projects to leave out (private ones the caller may not see); null: none.</param>
    public async Task<Page<WorkRequestSummary>> ListWorkRequestsAsync(WorkRequestFilter filter, long? after, int limit, CancellationToken ct, long[]? hidden = null)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        long? projectId = null;
        if (filter.Project is not null && (projectId = await ProjectIdAsync(conn, filter.Project, ct)) is null)
        {
            return new Page<WorkRequestSummary>([], null);
        }
        if (hidden is not null && projectId is null && filter.WorkflowId is null)
        {
            await using var visible = new NpgsqlCommand(ListVisibleWorkRequestsSql, conn);
            visible.Parameters.Add(new NpgsqlParameter<long>("after", after ?? 0));
            visible.Parameters.Add(new NpgsqlParameter<long[]>("hidden", hidden));
            visible.Parameters.Add(new NpgsqlParameter("state", NpgsqlDbType.Text) { Value = (object?)filter.State ?? DBNull.Value });
            visible.Parameters.Add(new NpgsqlParameter("queue", NpgsqlDbType.Text) { Value = (object?)filter.Queue ?? DBNull.Value });
            visible.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
            var page = new List<WorkRequestSummary>();
            await using var rows = await visible.ExecuteReaderAsync(ct);
            while (await rows.ReadAsync(ct))
            {
                page.Add(ReadSummary(rows, 0));
            }
            return Paging.Of(page, limit, r => r.Id);
        }
        await using var batch = ListBatch(conn, ListWorkRequestsCommand(filter, projectId, after, limit + 1));
        var items = new List<WorkRequestSummary>();
        await using var reader = await batch.ExecuteReaderAsync(ct);
        await reader.NextResultAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(ReadSummary(reader, 0));
        }
        return Paging.Of(items, limit, w => w.Id);
    }

    /// <summary>The list statement for this filter shape with its parameters (tests EXPLAIN it).</summary>
    /// <param name="projectId">The id of <c>filter.Project</c>, resolved by the caller (required when it is set).</param>
    internal static NpgsqlCommand ListWorkRequestsCommand(WorkRequestFilter filter, long? projectId, long? after, int rows)
    {
        var cmd = new NpgsqlCommand(ListWorkRequestsSql(filter));
        // Oldest first: ids start at 1, so no cursor means "above 0".
        cmd.Parameters.Add(new NpgsqlParameter<long>("after", after ?? 0));
        if (filter.WorkflowId is { } workflow)
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflow));
        }
        if (filter.Project is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("project_id", projectId ?? throw new ArgumentNullException(nameof(projectId))));
        }
        if (filter.Queue is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("queue", filter.Queue));
        }
        if (filter.State is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("state", filter.State));
        }
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", rows));
        return cmd;
    }

    public async Task<WorkRequestView?> GetWorkRequestAsync(long id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        var attempts = new List<AttemptView>();
        await using (var cmd = new NpgsqlCommand(AttemptsSql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                attempts.Add(new AttemptView(
                    reader.GetInt32(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                    reader.GetFieldValue<DateTimeOffset>(3), reader.GetFieldValue<DateTimeOffset>(4), reader.GetString(5),
                    reader.IsDBNull(6) ? null : reader.GetInt32(6), reader.IsDBNull(7) ? null : reader.GetString(7)));
            }
        }
        await using (var cmd = new NpgsqlCommand(GetWorkRequestSql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return null;
            }
            return new WorkRequestView(
                ReadSummary(reader, 0),
                Project: reader.GetString(10),
                Tags: reader.GetFieldValue<string[]>(11),
                Run: reader.GetString(12),
                Env: JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(13)) ?? [],
                Outputs: reader.GetFieldValue<string[]>(14),
                TimeoutSeconds: reader.GetInt32(15),
                MaxAttempts: reader.GetInt32(16),
                RetryOnFailure: reader.GetBoolean(17),
                CancelRequested: reader.GetBoolean(18),
                NotBefore: reader.IsDBNull(19) ? null : reader.GetFieldValue<DateTimeOffset>(19),
                Needs: reader.GetFieldValue<long[]>(20),
                Attempts: attempts,
                WorkerName: reader.IsDBNull(21) ? null : reader.GetString(21),
                Execution: ExecutionJson.Deserialize(reader.IsDBNull(22) ? null : reader.GetString(22)));
        }
    }

    private static WorkflowView ReadWorkflow(DbDataReader r, IReadOnlyList<WorkRequestSummary>? jobs) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3),
        new WorkflowCounts(r.GetInt32(4), r.GetInt32(5), r.GetInt32(6), r.GetInt32(7), r.GetInt32(8), r.GetInt32(9), r.GetInt32(12)),
        r.GetFieldValue<DateTimeOffset>(10), r.IsDBNull(11) ? null : r.GetFieldValue<DateTimeOffset>(11), jobs,
        Origin: ReadOrigin(r));

    /// <summary>Null for a workflow nothing triggered, grouped or replaced (most of them): the JSON leaves it out.</summary>
    private static WorkflowOriginView? ReadOrigin(DbDataReader r)
    {
        long? Long(int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
        string? Text(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        var origin = new WorkflowOriginView(Long(13), Text(14), Text(15), Text(16), Long(17));
        return origin is { EventId: null, Rule: null, InputKey: null, ConcurrencyGroup: null, SupersededBy: null } ? null : origin;
    }

    private static WorkRequestSummary ReadSummary(DbDataReader r, int o) => new(
        r.GetInt64(o), r.GetInt64(o + 1), r.GetString(o + 2), r.GetString(o + 3), r.GetInt32(o + 4), r.GetString(o + 5),
        r.IsDBNull(o + 6) ? null : r.GetString(o + 6), r.GetFieldValue<DateTimeOffset>(o + 7),
        r.IsDBNull(o + 8) ? null : r.GetFieldValue<DateTimeOffset>(o + 8), r.IsDBNull(o + 9) ? null : r.GetFieldValue<DateTimeOffset>(o + 9));
}
