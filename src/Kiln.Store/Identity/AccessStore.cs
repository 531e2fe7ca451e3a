using Npgsql;

namespace Kiln.Store.Identity;

/// <summary>The project a resource belongs to, as access checks need it.</summary>
/// <param name="SubmittedBy">Who submitted the workflow (for a workflow or work request), if known.</param>
public sealed record ProjectOfResource(long ProjectId, string ProjectName, bool IsPrivate, long? SubmittedBy);

/// <summary>
/// The reads access checks make: which project a workflow or work request belongs to (one
/// primary-key lookup), which private projects a caller may not see (for lists), and the
/// creation of a project by a user who becomes its owner.
/// </summary>
public sealed class AccessStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string OfWorkflowSql = """
        SELECT p.id, p.name, p.visibility = 'private', w.submitted_by
        FROM workflows w JOIN projects p ON p.id = w.project_id WHERE w.id = @id
        """;

    private const string OfWorkRequestSql = """
        SELECT p.id, p.name, p.visibility = 'private', w.submitted_by
        FROM work_requests r JOIN workflows w ON w.id = r.workflow_id JOIN projects p ON p.id = r.project_id WHERE r.id = @id
        """;

    private const string OfProjectSql = "SELECT p.id, p.name, p.visibility = 'private', NULL::bigint FROM projects p WHERE p.name = @name";

    /// <summary>Private projects are few (a farm's projects are public unless said otherwise), so this list is short.</summary>
    private const string HiddenSql = """
        SELECT id FROM projects WHERE visibility = 'private' AND NOT (id = ANY (@visible)) ORDER BY id
        """;

    /// <summary>The project and its owner in one statement; nothing when the name is taken (a concurrent creation).</summary>
    internal const string CreateSql = """
        WITH project AS (
            INSERT INTO projects (name, visibility, description, created_at) VALUES (@name, @visibility, @description, @now)
            ON CONFLICT (name) DO NOTHING
            RETURNING id
        )
        INSERT INTO project_members (project_id, user_id, role, added_at)
        SELECT id, @user, 'owner', @now FROM project
        RETURNING project_id
        """;

    public Task<ProjectOfResource?> OfWorkflowAsync(long id, CancellationToken ct) => ReadAsync(OfWorkflowSql, new NpgsqlParameter<long>("id", id), ct);

    public Task<ProjectOfResource?> OfWorkRequestAsync(long id, CancellationToken ct) => ReadAsync(OfWorkRequestSql, new NpgsqlParameter<long>("id", id), ct);

    public Task<ProjectOfResource?> OfProjectAsync(string name, CancellationToken ct) => ReadAsync(OfProjectSql, new NpgsqlParameter<string>("name", name), ct);

    /// <summary>Ids of the private projects that are not among <paramref name="visible"/>.</summary>
    public async Task<long[]> HiddenProjectsAsync(long[] visible, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(HiddenSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("visible", visible));
        var ids = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetInt64(0));
        }
        return [.. ids];
    }

    /// <summary>Creates project <paramref name="name"/> owned by <paramref name="userId"/>; its id, or null when it exists already.</summary>
    public async Task<long?> CreateProjectAsync(string name, long userId, bool isPrivate, string description, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(CreateSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        cmd.Parameters.Add(new NpgsqlParameter<long>("user", userId));
        cmd.Parameters.Add(new NpgsqlParameter<string>("visibility", isPrivate ? "private" : "public"));
        cmd.Parameters.Add(new NpgsqlParameter<string>("description", description));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        return await cmd.ExecuteScalarAsync(ct) as long?;
    }

    private async Task<ProjectOfResource?> ReadAsync(string sql, NpgsqlParameter parameter, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        cmd.Parameters.Add(parameter);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new ProjectOfResource(reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2), reader.IsDBNull(3) ? null : reader.GetInt64(3))
            : null;
    }
}
