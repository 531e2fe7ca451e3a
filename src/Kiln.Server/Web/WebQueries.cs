using Npgsql;

namespace Kiln.Server.Web;

/// <summary>
/// The few reads the pages need beyond the API's stores: a workflow's or work request's
/// version (what the live pages poll, one indexed row), who submitted a workflow, and a
/// workflow's dependency edges for its graph.
/// </summary>
public sealed class WebQueries(NpgsqlDataSource dataSource)
{
    /// <summary>A string that changes whenever the workflow's state or counters change; null when it does not exist.</summary>
    public async Task<string?> WorkflowVersionAsync(long id, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT concat_ws(':', state, total, unfinished, succeeded, failed, skipped, cancelled, (SELECT count(*) FROM work_requests r WHERE r.workflow_id = w.id AND r.state = 'running')) FROM workflows w WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        return (string?)await cmd.ExecuteScalarAsync(ct);
    }

    /// <summary>A string that changes whenever the work request's state or attempt changes; null when it does not exist.</summary>
    public async Task<string?> WorkRequestVersionAsync(long id, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("SELECT concat_ws(':', state, attempt) FROM work_requests WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        return (string?)await cmd.ExecuteScalarAsync(ct);
    }

    /// <summary>
    /// How many workflows the list's filter matches, counted up to <paramref name="cap"/> + 1 (an
    /// index-only scan of at most that many entries: the page says "10,000+" past the cap).
    /// </summary>
    public async Task<int> CountWorkflowsAsync(string? project, string? state, long[]? hidden, int cap, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT count(*)::int FROM (
                SELECT 1 FROM workflows w
                WHERE ($1::text IS NULL OR w.project_id = (SELECT id FROM projects WHERE name = $1))
                  AND ($2::text IS NULL OR w.state = $2)
                  AND NOT (w.project_id = ANY ($3))
                LIMIT $4) x
            """);
        cmd.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, (object?)project ?? DBNull.Value);
        cmd.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, (object?)state ?? DBNull.Value);
        cmd.Parameters.AddWithValue(hidden ?? []);
        cmd.Parameters.AddWithValue(cap + 1);
        return (int)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>The projects with work running now and how many slots each holds, most first (the running set is small and indexed).</summary>
    public async Task<IReadOnlyList<(string Project, int Running)>> RunningByProjectAsync(long[]? hidden, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT p.name, r.n FROM (SELECT project_id, count(*)::int AS n FROM work_requests WHERE state = 'running' GROUP BY project_id) r
            JOIN projects p ON p.id = r.project_id
            WHERE NOT (r.project_id = ANY ($1))
            ORDER BY r.n DESC, p.name LIMIT $2
            """);
        cmd.Parameters.AddWithValue(hidden ?? []);
        cmd.Parameters.AddWithValue(limit);
        var rows = new List<(string, int)>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add((reader.GetString(0), reader.GetInt32(1)));
        }
        return rows;
    }

    /// <summary>Each work request of the workflow with the ids it needs.</summary>
    public async Task<IReadOnlyDictionary<long, long[]>> NeedsAsync(long workflowId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT d.work_request_id, array_agg(d.depends_on_id) FROM dependencies d
            JOIN work_requests r ON r.id = d.work_request_id WHERE r.workflow_id = $1 GROUP BY d.work_request_id
            """);
        cmd.Parameters.AddWithValue(workflowId);
        var needs = new Dictionary<long, long[]>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            needs[reader.GetInt64(0)] = reader.GetFieldValue<long[]>(1);
        }
        return needs;
    }

    /// <summary>Who submitted the workflow (a user's name), and its trigger.</summary>
    public async Task<(string? Submitter, string Trigger)> OriginAsync(long workflowId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("SELECT (SELECT u.name FROM users u WHERE u.id = w.submitted_by), w.trigger FROM workflows w WHERE w.id = $1");
        cmd.Parameters.AddWithValue(workflowId);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetString(1)) : (null, "manual");
    }
}
