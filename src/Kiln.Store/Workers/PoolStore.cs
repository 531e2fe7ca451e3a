using Kiln.Contracts;
using Npgsql;

namespace Kiln.Store.Workers;

/// <summary>
/// Worker pools (farm policy, the admins'): which queues and projects a pool's workers serve,
/// whether new workers wait for approval, and which projects trust the pool with their secrets.
/// The claim reads the pool with the worker's row (<see cref="Engine.ClaimStore"/>).
/// </summary>
public sealed class PoolStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    public const string DefaultPool = "default";

    private const string ViewColumns = """
        p.id, p.name, p.description, p.queues,
               ARRAY(SELECT j.name FROM projects j WHERE j.id = ANY(p.project_ids) ORDER BY j.name),
               p.exclude_private, p.approval_required,
               (SELECT count(*) FROM workers k WHERE k.pool_id = p.id AND k.removed_at IS NULL),
               (SELECT count(*) FROM registration_tokens t WHERE t.pool_id = p.id AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > @now)),
               p.created_at
        FROM worker_pools p
        """;

    private const string ListSql = "SELECT " + ViewColumns + """

        WHERE (@after IS NULL OR p.id > @after) ORDER BY p.id LIMIT @limit
        """;

    private const string ViewSql = "SELECT " + ViewColumns + " WHERE p.name = @name";

    /// <summary>A name already taken is no row: the caller answers 409.</summary>
    private const string InsertSql = """
        INSERT INTO worker_pools (name, description, queues, project_ids, exclude_private, approval_required, created_at)
        VALUES (@name, @description, @queues, @projects, @exclude_private, @approval_required, @now)
        ON CONFLICT (name) DO NOTHING
        RETURNING id
        """;

    /// <summary>Only the fields given change (a null parameter keeps the column).</summary>
    private const string UpdateSql = """
        UPDATE worker_pools SET
            description = coalesce(@description, description),
            queues = coalesce(@queues, queues),
            project_ids = coalesce(@projects, project_ids),
            exclude_private = coalesce(@exclude_private, exclude_private),
            approval_required = coalesce(@approval_required, approval_required)
        WHERE name = @name
        RETURNING id
        """;

    /// <summary>The pool's row is locked so that two deletes decide on one count; a worker that enrols meanwhile is refused (its pool is gone).</summary>
    private const string LockSql = """
        SELECT id, (SELECT count(*) FROM workers k WHERE k.pool_id = p.id AND k.removed_at IS NULL)
        FROM worker_pools p WHERE name = @name FOR UPDATE
        """;

    /// <summary>A pool goes with its tokens (they could enrol into nothing) and the trusts in it.</summary>
    private const string DeleteSql = """
        DELETE FROM registration_tokens WHERE pool_id = @id;
        DELETE FROM project_trusted_pools WHERE pool_id = @id;
        DELETE FROM worker_pools WHERE id = @id;
        """;

    private const string ProjectIdsSql = "SELECT name, id FROM projects WHERE name = ANY(@names)";

    private const string TrustSql = """
        INSERT INTO project_trusted_pools (project_id, pool_id) VALUES (@project, @pool) ON CONFLICT DO NOTHING
        """;

    private const string UntrustSql = "DELETE FROM project_trusted_pools WHERE project_id = @project AND pool_id = @pool";

    private const string TrustedSql = """
        SELECT p.name FROM project_trusted_pools t JOIN worker_pools p ON p.id = t.pool_id WHERE t.project_id = @project ORDER BY p.name
        """;

    public async Task<Page<PoolView>> ListAsync(long? after, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        var items = new List<PoolView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(Read(reader));
        }
        return Paging.Of(items, limit, p => p.Id);
    }

    public async Task<PoolView?> GetAsync(string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ViewSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    /// <returns>The new pool, or null when the name is taken.</returns>
    public async Task<PoolView?> CreateAsync(string name, string description, string[] queues, long[] projectIds, bool excludePrivate, bool approvalRequired, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(InsertSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        cmd.Parameters.Add(new NpgsqlParameter<string>("description", description));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("queues", queues));
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("projects", projectIds));
        cmd.Parameters.Add(new NpgsqlParameter<bool>("exclude_private", excludePrivate));
        cmd.Parameters.Add(new NpgsqlParameter<bool>("approval_required", approvalRequired));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        return await cmd.ExecuteScalarAsync(ct) is long ? await GetAsync(name, ct) : null;
    }

    /// <returns>The changed pool, or null when there is no such pool.</returns>
    public async Task<PoolView?> UpdateAsync(string name, string? description, string[]? queues, long[]? projectIds, bool? excludePrivate, bool? approvalRequired, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(UpdateSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        cmd.Parameters.Add(new NpgsqlParameter("description", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)description ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("queues", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)queues ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("projects", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)projectIds ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<bool?>("exclude_private", excludePrivate));
        cmd.Parameters.Add(new NpgsqlParameter<bool?>("approval_required", approvalRequired));
        return await cmd.ExecuteScalarAsync(ct) is long ? await GetAsync(name, ct) : null;
    }

    /// <returns>Null when there is no such pool; else the pool's id and its listed workers (only a pool without any is deleted).</returns>
    public async Task<(long Id, long Workers)?> DeleteAsync(string name, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        long id, workers;
        await using (var find = new NpgsqlCommand(LockSql, conn, tx))
        {
            find.Parameters.Add(new NpgsqlParameter<string>("name", name));
            await using var reader = await find.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return null;
            }
            (id, workers) = (reader.GetInt64(0), reader.GetInt64(1));
        }
        if (workers > 0)
        {
            return (id, workers);
        }
        await using (var delete = new NpgsqlCommand(DeleteSql, conn, tx))
        {
            delete.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await delete.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return (id, 0);
    }

    /// <summary>Ids of the named projects, and the names that are no project.</summary>
    public async Task<(long[] Ids, IReadOnlyList<string> Missing)> ProjectIdsAsync(IReadOnlyList<string> names, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ProjectIdsSql);
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("names", [.. names]));
        var found = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            found[reader.GetString(0)] = reader.GetInt64(1);
        }
        return ([.. found.Values.Distinct().Order()], [.. names.Where(n => !found.ContainsKey(n)).Distinct()]);
    }

    /// <returns>Whether this call changed anything (false: the project already trusted, or did not trust, the pool).</returns>
    public async Task<bool> SetTrustAsync(long projectId, long poolId, bool trusted, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(trusted ? TrustSql : UntrustSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        cmd.Parameters.Add(new NpgsqlParameter<long>("pool", poolId));
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    /// <summary>Names of the pools <paramref name="projectId"/> trusts with its secrets.</summary>
    public async Task<IReadOnlyList<string>> TrustedPoolsAsync(long projectId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(TrustedSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        var names = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }

    private static PoolView Read(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetFieldValue<string[]>(3), r.GetFieldValue<string[]>(4),
        r.GetBoolean(5), r.GetBoolean(6), (int)r.GetInt64(7), (int)r.GetInt64(8), r.GetFieldValue<DateTimeOffset>(9));
}
