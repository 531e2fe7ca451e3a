using System.Data.Common;
using System.Text.Json;
using Kiln.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Engine;

/// <summary>Filters for listing work requests; all optional.</summary>
public sealed record WorkRequestFilter(long? WorkflowId, string? State, string? Queue, string? Project);

/// <summary>
/// Read side: workflows and work requests for the API. Every list is keyset-paginated
/// (<c>id &lt; @after</c> or <c>id &gt; @after</c>, never OFFSET) and served by an index
/// whose leading columns are the filter and the id, so page 1,000 costs what page 1 costs.
/// </summary>
public sealed class QueryStore(NpgsqlDataSource dataSource)
{
    private const string WorkflowColumns = """
        w.id, w.name, p.name, w.state, w.total, w.unfinished, w.succeeded, w.failed, w.skipped, w.cancelled, w.created_at, w.finished_at, w.allowed_failures
        """;

    private const string WorkRequestColumns = """
        r.id, r.workflow_id, r.name, r.state, r.attempt, r.queue, r.architecture, r.created_at, r.started_at, r.finished_at
        """;

    /// <summary>Newest first. Each optional filter is either NULL (off) or matched through its index.</summary>
    private static readonly string ListWorkflowsSql = $"""
        SELECT {WorkflowColumns}
        FROM workflows w JOIN projects p ON p.id = w.project_id
        WHERE (@after IS NULL OR w.id < @after)
          AND (@project IS NULL OR w.project_id = (SELECT id FROM projects WHERE name = @project))
          AND (@state IS NULL OR w.state = @state)
        ORDER BY w.id DESC
        LIMIT @limit
        """;

    private static readonly string GetWorkflowSql = $"""
        SELECT {WorkflowColumns} FROM workflows w JOIN projects p ON p.id = w.project_id WHERE w.id = @id
        """;

    private static readonly string JobsOfWorkflowSql = $"""
        SELECT {WorkRequestColumns} FROM work_requests r WHERE r.workflow_id = @id ORDER BY r.id
        """;

    /// <summary>Oldest first, so a follower of a workflow's queue pages forward.</summary>
    private static readonly string ListWorkRequestsSql = $"""
        SELECT {WorkRequestColumns}
        FROM work_requests r
        WHERE (@after IS NULL OR r.id > @after)
          AND (@workflow IS NULL OR r.workflow_id = @workflow)
          AND (@state IS NULL OR r.state = @state)
          AND (@queue IS NULL OR r.queue = @queue)
          AND (@project IS NULL OR r.project_id = (SELECT id FROM projects WHERE name = @project))
        ORDER BY r.id
        LIMIT @limit
        """;

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
        await using var cmd = dataSource.CreateCommand(ListWorkflowsSql);
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("project", NpgsqlDbType.Text) { Value = (object?)project ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("state", NpgsqlDbType.Text) { Value = (object?)state ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<WorkflowView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(ReadWorkflow(reader, jobs: null));
        }
        return Paging.Of(items, limit, w => w.Id);
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
        await using var cmd = dataSource.CreateCommand(ListWorkRequestsSql);
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("workflow", NpgsqlDbType.Bigint) { Value = (object?)filter.WorkflowId ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("state", NpgsqlDbType.Text) { Value = (object?)filter.State ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("queue", NpgsqlDbType.Text) { Value = (object?)filter.Queue ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("project", NpgsqlDbType.Text) { Value = (object?)filter.Project ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<WorkRequestSummary>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(ReadSummary(reader, 0));
        }
        return Paging.Of(items, limit, w => w.Id);
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
