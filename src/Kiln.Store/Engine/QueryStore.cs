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
        w.id, w.name, p.name, w.state, w.total, w.unfinished, w.succeeded, w.failed, w.skipped, w.cancelled, w.created_at, w.finished_at, w.allowed_failures
        """;

    private const string WorkRequestColumns = """
        r.id, r.workflow_id, r.name, r.state, r.attempt, r.queue, r.architecture, r.created_at, r.started_at, r.finished_at
        """;

    /// <summary>
    /// Newest first. Each filter shape is its own statement, so the planner sees only the
    /// conditions that apply (an <c>@x IS NULL OR …</c> condition cannot be an index bound,
    /// and made every filtered list walk the primary key). No filter: the primary key;
    /// state: (state, id); project and state: (project_id, state, id). Project alone reads
    /// that index's range for each of the four states and merges them, so one index serves
    /// both. The project's id is resolved first (<see cref="ProjectIdSql"/>) and passed as a
    /// value: behind a subquery the planner would estimate every project as average and walk
    /// the primary key for a rare one.
    /// </summary>
    private static string ListWorkflowsSql(bool project, bool state)
    {
        var where = "w.id < @after" + (project ? " AND w.project_id = @project_id" : "");
        return project && !state
            ? $"""
                SELECT {WorkflowColumns}
                FROM ({EachState(WorkflowState.All, state => $"SELECT * FROM workflows w WHERE {where} AND w.state = '{state}' ORDER BY w.id DESC LIMIT @limit")}) w
                JOIN projects p ON p.id = w.project_id
                ORDER BY w.id DESC
                LIMIT @limit
                """
            : $"""
                SELECT {WorkflowColumns}
                FROM workflows w JOIN projects p ON p.id = w.project_id
                WHERE {where}{(state ? " AND w.state = @state" : "")}
                ORDER BY w.id DESC
                LIMIT @limit
                """;
    }

    /// <summary>
    /// One branch per state, each with the state as a literal so that it is planned for that
    /// state's own statistics (a common state in the project may walk the primary key and stop
    /// early; a rare one reads its index range), merged by the caller's ORDER BY.
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
    /// filter shape (see <see cref="ListWorkflowsSql"/> for why), each with an index whose
    /// leading columns are its equality filters, then state, then id (0004_list_indexes.sql):
    /// workflow → (workflow_id, state, id); project → (project_id, state, id); queue →
    /// (queue, state, id); project and queue → (project_id, queue, state, id); state alone →
    /// (state, id); nothing → the primary key. Without a state filter each of the seven
    /// states' ranges is read in id order (at most @limit rows each) and merged. Extended
    /// statistics on the filter columns with state (0004) let the planner see that two common
    /// values can have an empty intersection (?project=ci&amp;state=pending), where multiplying
    /// their frequencies would promise a match every few rows of a primary-key walk.
    /// A workflow bounds the rows to its own (≤ 50,000 by the submission limits), so with a
    /// workflow a queue is a filter within it, and a project is checked once on the workflow
    /// row (every request has its workflow's project) instead of choosing a project index.
    /// </summary>
    private static string ListWorkRequestsSql(WorkRequestFilter f)
    {
        var where = "r.id > @after";
        if (f.WorkflowId is not null)
        {
            where += " AND r.workflow_id = @workflow";
            if (f.Project is not null)
            {
                // uncorrelated, so a one-time filter: the workflow's rows are read only if it is the project's
                where += " AND EXISTS (SELECT 1 FROM workflows wf WHERE wf.id = @workflow AND wf.project_id = @project_id)";
            }
        }
        else if (f.Project is not null)
        {
            where += " AND r.project_id = @project_id";
        }
        if (f.Queue is not null)
        {
            where += " AND r.queue = @queue";
        }
        var anyFilter = f.WorkflowId is not null || f.Project is not null || f.Queue is not null;
        return anyFilter && f.State is null
            ? $"""
                SELECT {WorkRequestColumns}
                FROM ({EachState(WorkRequestState.All, state => $"SELECT * FROM work_requests r WHERE {where} AND r.state = '{state}' ORDER BY r.id LIMIT @limit")}) r
                ORDER BY r.id
                LIMIT @limit
                """
            : $"""
                SELECT {WorkRequestColumns}
                FROM work_requests r
                WHERE {where}{(f.State is not null ? " AND r.state = @state" : "")}
                ORDER BY r.id
                LIMIT @limit
                """;
    }

    private const string ProjectIdSql = "SELECT id FROM projects WHERE name = @project";

    /// <summary>
    /// Sent with each list in its batch (one implicit transaction, which the setting lasts
    /// for): the server auto-prepares statements, and a generic plan for "state = $1" or
    /// "project_id = $1" is costed for an average value — a PK walk that is cheap for a common
    /// state and reads the whole table for a rare one. A list is planned for its own values.
    /// </summary>
    private const string CustomPlanSql = "SELECT set_config('plan_cache_mode', 'force_custom_plan', true)";

    private static readonly string GetWorkRequestSql = $"""
        SELECT {WorkRequestColumns}, p.name, r.tags, r.run, r.env, r.outputs, r.timeout_seconds, r.max_attempts,
               r.retry_on_failure, r.cancel_requested, r.not_before,
               ARRAY(SELECT depends_on_id FROM dependencies WHERE work_request_id = r.id ORDER BY 1),
               -- Who runs the current attempt: attempts gets its row only when the attempt ends.
               (SELECT name FROM workers WHERE id = r.worker_id AND r.state = 'running')
        FROM work_requests r JOIN projects p ON p.id = r.project_id WHERE r.id = @id
        """;

    private const string AttemptsSql = """
        SELECT a.attempt, a.worker_id, k.name, a.started_at, a.finished_at, a.outcome, a.exit_code, a.message
        FROM attempts a LEFT JOIN workers k ON k.id = a.worker_id
        WHERE a.work_request_id = @id ORDER BY a.attempt
        """;

    public async Task<Page<WorkflowView>> ListWorkflowsAsync(string? project, string? state, long? after, int limit, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        long? projectId = null;
        if (project is not null && (projectId = await ProjectIdAsync(conn, project, ct)) is null)
        {
            return new Page<WorkflowView>([], null);
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
        batch.BatchCommands.Add(new NpgsqlBatchCommand(CustomPlanSql));
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

    public async Task<Page<WorkRequestSummary>> ListWorkRequestsAsync(WorkRequestFilter filter, long? after, int limit, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        long? projectId = null;
        if (filter.Project is not null && (projectId = await ProjectIdAsync(conn, filter.Project, ct)) is null)
        {
            return new Page<WorkRequestSummary>([], null);
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
                WorkerName: reader.IsDBNull(21) ? null : reader.GetString(21));
        }
    }

    private static WorkflowView ReadWorkflow(DbDataReader r, IReadOnlyList<WorkRequestSummary>? jobs) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3),
        new WorkflowCounts(r.GetInt32(4), r.GetInt32(5), r.GetInt32(6), r.GetInt32(7), r.GetInt32(8), r.GetInt32(9), r.GetInt32(12)),
        r.GetFieldValue<DateTimeOffset>(10), r.IsDBNull(11) ? null : r.GetFieldValue<DateTimeOffset>(11), jobs);

    private static WorkRequestSummary ReadSummary(DbDataReader r, int o) => new(
        r.GetInt64(o), r.GetInt64(o + 1), r.GetString(o + 2), r.GetString(o + 3), r.GetInt32(o + 4), r.GetString(o + 5),
        r.IsDBNull(o + 6) ? null : r.GetString(o + 6), r.GetFieldValue<DateTimeOffset>(o + 7),
        r.IsDBNull(o + 8) ? null : r.GetFieldValue<DateTimeOffset>(o + 8), r.IsDBNull(o + 9) ? null : r.GetFieldValue<DateTimeOffset>(o + 9));
}
