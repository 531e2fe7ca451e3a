using Kiln.Contracts;
using Npgsql;
using NpgsqlTypes;
using System.Text.Json;

namespace Kiln.Store.Results;

/// <summary>What a result upload needs to know of its work request: project, workflow, how it runs, and the suite of what it needs.</summary>
/// <param name="NeedSuite">The <c>suite</c> parameter of a job it needs (the sbuild an autopkgtest tests), if any.</param>
public sealed record ResultTarget(long ProjectId, long WorkflowId, JobExecution? Execution, string? NeedSuite);

/// <summary>A stored result used as the reference for a comparison.</summary>
public sealed record ReferenceResult(long WorkRequestId, int Attempt, string Version, JsonElement Result);

/// <summary>
/// <c>work_request_results</c>: one structured result per attempt, as its kind reported it (plus the
/// server's regression findings); read by the work request's view, <c>kiln show</c> and regression tracking.
/// </summary>
public sealed class ResultStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string TargetSql = """
        SELECT w.project_id, w.workflow_id, w.execution::text,
               -- An autopkgtest job often names no suite: it tests what the sbuild job it needs built for one.
               (SELECT d.execution->'with'->>'suite'
                FROM dependencies dep JOIN work_requests d ON d.id = dep.depends_on_id
                WHERE dep.work_request_id = w.id AND coalesce(d.execution->'with'->>'suite', '') <> ''
                ORDER BY d.id LIMIT 1)
        FROM work_requests w WHERE w.id = @id
        """;

    // A repeat of the same attempt (the worker's answer was lost, or it uploaded again) replaces the
    // result: the last upload is what the tool reported last, and the verdict is computed from it.
    private const string RecordSql = """
        INSERT INTO work_request_results (work_request_id, attempt, kind, result, created_at)
        VALUES (@id, @attempt, @kind, @result::jsonb, @now)
        ON CONFLICT (work_request_id, attempt) DO UPDATE SET kind = EXCLUDED.kind, result = EXCLUDED.result, created_at = EXCLUDED.created_at
        """;

    // Without an attempt: the latest attempt that reported a result.
    private const string GetSql = """
        SELECT attempt, kind, result::text, created_at FROM work_request_results
        WHERE work_request_id = @id AND (@attempt::int IS NULL OR attempt = @attempt::int)
        ORDER BY attempt DESC LIMIT 1
        """;

    /// <summary>
    /// The reference for a comparison: the latest autopkgtest result of the same project, suite, source
    /// package and architecture, from an EARLIER workflow, for the version the project's repository for
    /// the suite publishes now (its source row first: a binNMU's binaries carry another version). When the
    /// repository publishes nothing of the package there is no reference, and nothing counts as regressed.
    /// </summary>
    private const string ReferenceSql = """
        WITH published AS (
            SELECT rp.version FROM repository_packages rp JOIN repositories r ON r.id = rp.repository_id
            WHERE r.project_id = @project AND r.suite = @suite AND coalesce(rp.source_package, rp.package) = @package
            ORDER BY (rp.architecture = 'source') DESC, rp.published_at DESC LIMIT 1)
        SELECT res.work_request_id, res.attempt, res.result->>'version', res.result::text
        FROM work_request_results res JOIN work_requests w ON w.id = res.work_request_id
        WHERE res.kind = 'debian/autopkgtest'
          AND res.result->>'package' = @package AND res.result->>'suite' = @suite AND res.result->>'architecture' = @arch
          AND res.result->>'version' = (SELECT version FROM published)
          AND w.project_id = @project AND w.workflow_id < @workflow
        ORDER BY res.created_at DESC, res.work_request_id DESC LIMIT 1
        """;

    // The latest result of each autopkgtest job of the workflow; the regressions are listed from them.
    private const string WorkflowRegressionsSql = """
        SELECT DISTINCT ON (res.work_request_id) res.work_request_id, w.name, res.result->'regressions', res.result->>'architecture'
        FROM work_request_results res JOIN work_requests w ON w.id = res.work_request_id
        WHERE w.workflow_id = @workflow AND res.kind = 'debian/autopkgtest'
        ORDER BY res.work_request_id, res.attempt DESC
        LIMIT 1000
        """;

    public async Task<ResultTarget?> TargetAsync(long workRequestId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(TargetSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        return new ResultTarget(reader.GetInt64(0), reader.GetInt64(1),
            Engine.ExecutionJson.Deserialize(reader.IsDBNull(2) ? null : reader.GetString(2)), reader.IsDBNull(3) ? null : reader.GetString(3));
    }

    public async Task RecordAsync(long workRequestId, int attempt, string kind, string resultJson, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(RecordSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter<int>("attempt", attempt));
        cmd.Parameters.Add(new NpgsqlParameter<string>("kind", kind));
        cmd.Parameters.Add(new NpgsqlParameter<string>("result", resultJson));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The result of <paramref name="attempt"/>, or of the latest attempt that reported one.</summary>
    public async Task<WorkRequestResult?> GetAsync(long workRequestId, int? attempt, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(GetSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter("attempt", NpgsqlDbType.Integer) { Value = (object?)attempt ?? DBNull.Value });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        using var doc = JsonDocument.Parse(reader.GetString(2));
        return new WorkRequestResult(workRequestId, reader.GetInt32(0), reader.GetString(1), doc.RootElement.Clone(), reader.GetFieldValue<DateTimeOffset>(3));
    }

    public async Task<ReferenceResult?> ReferenceAsync(long projectId, long workflowId, string suite, string package, string architecture, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ReferenceSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        cmd.Parameters.Add(new NpgsqlParameter<string>("suite", suite));
        cmd.Parameters.Add(new NpgsqlParameter<string>("package", package));
        cmd.Parameters.Add(new NpgsqlParameter<string>("arch", architecture));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        using var doc = JsonDocument.Parse(reader.GetString(3));
        return new ReferenceResult(reader.GetInt64(0), reader.GetInt32(1), reader.GetString(2), doc.RootElement.Clone());
    }

    /// <summary>The regressions the latest results of a workflow's autopkgtest jobs found, by job and test.</summary>
    public async Task<IReadOnlyList<WorkflowRegression>> RegressionsOfWorkflowAsync(long workflowId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(WorkflowRegressionsSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var found = new List<WorkflowRegression>();
        while (await reader.ReadAsync(ct))
        {
            if (reader.IsDBNull(2))
            {
                continue;
            }
            using var list = JsonDocument.Parse(reader.GetString(2));
            if (list.RootElement.ValueKind != JsonValueKind.Array)
            {
                continue;
            }
            foreach (var test in list.RootElement.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.String))
            {
                found.Add(new WorkflowRegression(reader.GetInt64(0), reader.GetString(1), test.GetString()!, reader.IsDBNull(3) ? null : reader.GetString(3)));
            }
        }
        return found;
    }
}
