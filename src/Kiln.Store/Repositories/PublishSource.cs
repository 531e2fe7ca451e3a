using Npgsql;

namespace Kiln.Store.Repositories;

/// <summary>What a publish job is and what it publishes: read under the job's lease, before the repository is locked.</summary>
public sealed class PublishSource(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>
    /// The work request, its project and its kind; <c>held</c> is the same fence as every worker write
    /// (running, this lease, this worker, unexpired), so a publish accepted here is one whose report would be.
    /// </summary>
    private const string JobSql = """
        SELECT w.project_id, p.name, w.execution->>'uses', w.execution->'with'->>'suite',
               (w.state = 'running' AND w.lease_token = @token AND w.worker_id = @worker AND w.lease_expires_at >= @now)
        FROM work_requests w JOIN projects p ON p.id = w.project_id
        WHERE w.id = @id
        """;

    /// <summary>
    /// The artifacts of each job the publish job needs, from that job's latest succeeded attempt (a
    /// retried job's earlier outputs are not what it finally made). Ordered so that a publish is deterministic.
    /// </summary>
    private const string InputsSql = """
        SELECT d.depends_on_id, a.path, a.sha256, a.size
        FROM dependencies d
        CROSS JOIN LATERAL (
            SELECT max(t.attempt) AS attempt FROM attempts t
            WHERE t.work_request_id = d.depends_on_id AND t.outcome = 'succeeded') s
        JOIN artifacts a ON a.work_request_id = d.depends_on_id AND a.attempt = s.attempt
        WHERE d.work_request_id = @id
        ORDER BY d.depends_on_id, a.path
        LIMIT @limit
        """;

    /// <summary>The publish job as seen under (worker, lease); null when the work request does not exist.</summary>
    public async Task<PublishJob?> JobAsync(long workRequestId, Guid token, long workerId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(JobSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter<Guid>("token", token));
        cmd.Parameters.Add(new NpgsqlParameter<long>("worker", workerId));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        return new PublishJob(workRequestId, reader.GetInt64(0), reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3), !reader.IsDBNull(4) && reader.GetBoolean(4));
    }

    /// <summary>At most <paramref name="limit"/> artifacts of the jobs <paramref name="workRequestId"/> needs.</summary>
    public async Task<IReadOnlyList<PublishInput>> InputsAsync(long workRequestId, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(InputsSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var inputs = new List<PublishInput>();
        while (await reader.ReadAsync(ct))
        {
            inputs.Add(new PublishInput(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3)));
        }
        return inputs;
    }
}

/// <summary>A publish job: its project, kind (<c>apt/publish</c>, <c>rpm/publish</c>), suite, and whether the caller's lease holds it.</summary>
public sealed record PublishJob(long WorkRequestId, long ProjectId, string Project, string? Uses, string? Suite, bool Held);

/// <summary>One artifact of a needed job.</summary>
public sealed record PublishInput(long WorkRequestId, string Path, string Sha256, long Size);
