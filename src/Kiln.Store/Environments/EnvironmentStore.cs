using Kiln.Contracts;
using Npgsql;

namespace Kiln.Store.Environments;

/// <summary>
/// Environments and their versions. A version is a tarball in the blob store named by its hash:
/// built by a <c>kiln/environment</c> job (recorded by <see cref="RecordBuiltAsync"/> when the job's
/// workflow succeeds) or imported by an admin. Versions are never changed, only added.
/// </summary>
public sealed class EnvironmentStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string Columns = """
        e.name, e.builder, e.suite, e.architecture, e.mirror, e.variant, e.packages, e.refresh_seconds, e.building_workflow_id, e.created_at,
        v.version, v.sha256, v.size, v.work_request_id, v.created_at
        """;

    private const string ListSql = $"""
        SELECT {Columns}
        FROM environments e
        LEFT JOIN LATERAL (SELECT * FROM environment_versions WHERE environment_id = e.id ORDER BY version DESC LIMIT 1) v ON true
        ORDER BY e.name
        """;

    private const string GetSql = $"""
        SELECT {Columns}
        FROM environments e
        LEFT JOIN LATERAL (SELECT * FROM environment_versions WHERE environment_id = e.id ORDER BY version DESC LIMIT 1) v ON true
        WHERE e.name = @name
        """;

    private const string VersionsSql = """
        SELECT v.version, v.sha256, v.size, v.work_request_id, v.created_at
        FROM environment_versions v JOIN environments e ON e.id = v.environment_id
        WHERE e.name = @name ORDER BY v.version DESC LIMIT 100
        """;

    /// <summary>A definition is written once; creating it again with the same settings is a repeat, with others a conflict (the caller checks).</summary>
    private const string CreateSql = """
        INSERT INTO environments (name, builder, suite, architecture, mirror, variant, packages, refresh_seconds, created_at, created_by)
        VALUES (@name, @builder, @suite, @arch, @mirror, @variant, @packages, @refresh, @now, @user)
        ON CONFLICT (name) DO NOTHING
        """;

    /// <summary>
    /// Marks a build as started, unless one is running: the row lock makes two refreshes at once
    /// start one build. Returns the environment's id when this caller should submit the build.
    /// </summary>
    private const string ClaimBuildSql = """
        UPDATE environments e SET last_build_requested_at = @now
        WHERE e.name = @name AND e.builder = 'mmdebstrap'
          AND (e.building_workflow_id IS NULL
               OR NOT EXISTS (SELECT 1 FROM workflows w WHERE w.id = e.building_workflow_id AND w.state = 'running'))
        RETURNING e.id
        """;

    private const string SetBuildingSql = "UPDATE environments SET building_workflow_id = @workflow WHERE id = @id";

    /// <summary>
    /// Set-based, idempotent: every succeeded environment build whose tarball is not yet a version
    /// becomes the next version of its environment; finished builds are then forgotten. Run by the
    /// leader's environment duty, so versions of one environment are numbered by one writer. (Every
    /// CTE reads the same snapshot: the build is recorded from the row the same statement clears.)
    /// </summary>
    private const string RecordBuiltSql = """
        WITH built AS (
            SELECT e.id AS environment_id, a.sha256, a.size, w.id AS work_request_id
            FROM environments e
            JOIN work_requests w ON w.workflow_id = e.building_workflow_id AND w.state = 'succeeded'
                 AND w.execution->>'uses' = 'kiln/environment'
            JOIN artifacts a ON a.work_request_id = w.id AND a.attempt = w.attempt AND a.path = 'environment.tar.zst'
            WHERE NOT EXISTS (SELECT 1 FROM environment_versions v WHERE v.work_request_id = w.id)
        ), recorded AS (
            INSERT INTO environment_versions (environment_id, version, sha256, size, work_request_id, created_at)
            SELECT b.environment_id,
                   coalesce((SELECT max(version) FROM environment_versions WHERE environment_id = b.environment_id), 0) + 1,
                   b.sha256, b.size, b.work_request_id, @now
            FROM built b
            ON CONFLICT (environment_id, sha256) DO NOTHING
            RETURNING 1
        ), finished AS (
            UPDATE environments e SET building_workflow_id = NULL
            FROM workflows w WHERE w.id = e.building_workflow_id AND w.state <> 'running'
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM recorded)
        """;

    /// <summary>Environments whose refresh interval has passed since their last build request and that are not building.</summary>
    private const string DueSql = """
        SELECT e.name FROM environments e
        WHERE e.refresh_seconds IS NOT NULL AND e.builder = 'mmdebstrap' AND e.building_workflow_id IS NULL
          AND (e.last_build_requested_at IS NULL OR e.last_build_requested_at + make_interval(secs => e.refresh_seconds) <= @now)
        ORDER BY e.name LIMIT 20
        """;

    private const string ImportSql = """
        WITH env AS (
            INSERT INTO environments (name, builder, created_at, created_by) VALUES (@name, 'imported', @now, @user)
            ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
            RETURNING id
        )
        INSERT INTO environment_versions (environment_id, version, sha256, size, created_at)
        SELECT env.id, coalesce((SELECT max(version) FROM environment_versions v WHERE v.environment_id = env.id), 0) + 1, @sha, @size, @now
        FROM env
        ON CONFLICT (environment_id, sha256) DO NOTHING
        RETURNING version
        """;

    private const string IsEnvironmentBlobSql = "SELECT EXISTS (SELECT 1 FROM environment_versions WHERE sha256 = @sha)";

    public async Task<IReadOnlyList<EnvironmentView>> ListAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        return await ReadViewsAsync(cmd, ct);
    }

    public async Task<EnvironmentView?> GetAsync(string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(GetSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        var views = await ReadViewsAsync(cmd, ct);
        return views.Count > 0 ? views[0] : null;
    }

    public async Task<IReadOnlyList<EnvironmentVersionView>> VersionsAsync(string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(VersionsSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        var list = new List<EnvironmentVersionView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            list.Add(new EnvironmentVersionView(reader.GetInt32(0), reader.GetString(1), reader.GetInt64(2),
                reader.IsDBNull(3) ? null : reader.GetInt64(3), reader.GetFieldValue<DateTimeOffset>(4)));
        }
        return list;
    }

    /// <returns>False when an environment of that name exists already.</returns>
    public async Task<bool> CreateAsync(CreateEnvironmentRequest request, string mirror, string variant, long? userId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(CreateSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", request.Name));
        cmd.Parameters.Add(new NpgsqlParameter<string>("builder", "mmdebstrap"));
        cmd.Parameters.Add(new NpgsqlParameter<string>("suite", request.Suite));
        cmd.Parameters.Add(new NpgsqlParameter<string>("arch", request.Architecture));
        cmd.Parameters.Add(new NpgsqlParameter<string>("mirror", mirror));
        cmd.Parameters.Add(new NpgsqlParameter<string>("variant", variant));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("packages", [.. request.Packages ?? []]));
        cmd.Parameters.Add(new NpgsqlParameter<int?>("refresh", request.RefreshHours * 3600));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        cmd.Parameters.Add(new NpgsqlParameter<long?>("user", userId));
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <returns>The environment's id when the caller is to submit a build; null when one is running (or it is imported).</returns>
    public async Task<long?> ClaimBuildAsync(string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ClaimBuildSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        return await cmd.ExecuteScalarAsync(ct) is long id ? id : null;
    }

    public async Task SetBuildingAsync(long environmentId, long workflowId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(SetBuildingSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", environmentId));
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <returns>How many versions were recorded.</returns>
    public async Task<long> RecordBuiltAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(RecordBuiltSql);
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        return await cmd.ExecuteScalarAsync(ct) is long n ? n : 0;
    }

    public async Task<IReadOnlyList<string>> DueForRefreshAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(DueSql);
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        var names = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }

    /// <summary>Records an uploaded tarball as the next version of <paramref name="name"/> (created as imported when new).</summary>
    /// <returns>The version, or null when this content is a version already.</returns>
    public async Task<int?> ImportAsync(string name, string sha256, long size, long? userId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ImportSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        cmd.Parameters.Add(new NpgsqlParameter<string>("sha", sha256));
        cmd.Parameters.Add(new NpgsqlParameter<long>("size", size));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        cmd.Parameters.Add(new NpgsqlParameter<long?>("user", userId));
        return await cmd.ExecuteScalarAsync(ct) is int v ? v : null;
    }

    /// <summary>Workers may fetch a blob only when it is an environment's tarball, never an artifact by guessing its hash.</summary>
    public async Task<bool> IsEnvironmentBlobAsync(string sha256, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(IsEnvironmentBlobSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("sha", sha256));
        return await cmd.ExecuteScalarAsync(ct) is true;
    }

    private static async Task<IReadOnlyList<EnvironmentView>> ReadViewsAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var list = new List<EnvironmentView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var current = reader.IsDBNull(10) ? null : new EnvironmentVersionView(reader.GetInt32(10), reader.GetString(11), reader.GetInt64(12),
                reader.IsDBNull(13) ? null : reader.GetInt64(13), reader.GetFieldValue<DateTimeOffset>(14));
            list.Add(new EnvironmentView(
                reader.GetString(0), reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetFieldValue<string[]>(6), reader.IsDBNull(7) ? null : reader.GetInt32(7) / 3600,
                current, reader.IsDBNull(8) ? null : reader.GetInt64(8), reader.GetFieldValue<DateTimeOffset>(9)));
        }
        return list;
    }
}
