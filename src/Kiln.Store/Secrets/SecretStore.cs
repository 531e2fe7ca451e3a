using Kiln.Contracts;
using Kiln.Store.Identity;
using Npgsql;

namespace Kiln.Store.Secrets;

/// <summary>
/// Project secrets at rest: only <see cref="SecretBox"/>'s sealed bytes and the key id are stored,
/// never a value; every change is audited (never with the value) in the change's own transaction.
/// Reading values back is <see cref="ClaimSecretsAsync"/>'s alone, for the worker that claimed a job.
/// </summary>
public sealed class SecretStore(NpgsqlDataSource dataSource, SecretBox box, AuditStore audit, TimeProvider time)
{
    /// <summary>Most secrets a project holds: a list of them needs no paging.</summary>
    public const int MaxPerProject = 100;

    /// <summary>
    /// Upsert; the count guards <see cref="MaxPerProject"/> for a new name (a replaced value does not
    /// add one). Two new names set at once could both pass the count: the cap is a size limit, not an invariant.
    /// </summary>
    private const string SetSql = """
        INSERT INTO project_secrets (project_id, name, sealed, key_id, updated_at, updated_by)
        SELECT @project, @name, @sealed, @key_id, @now, @user
        WHERE EXISTS (SELECT 1 FROM project_secrets WHERE project_id = @project AND name = @name)
           OR (SELECT count(*) FROM project_secrets WHERE project_id = @project) < @max
        ON CONFLICT (project_id, name) DO UPDATE
            SET sealed = excluded.sealed, key_id = excluded.key_id, updated_at = excluded.updated_at, updated_by = excluded.updated_by
        RETURNING (xmax = 0) AS created
        """;

    private const string ListSql = """
        SELECT s.name, s.updated_at, u.name, s.key_id
        FROM project_secrets s LEFT JOIN users u ON u.id = s.updated_by
        WHERE s.project_id = @project
        ORDER BY s.name
        """;

    private const string DeleteSql = "DELETE FROM project_secrets WHERE project_id = @project AND name = @name";

    /// <summary>Which of the names the project lacks (submission refuses a job naming one).</summary>
    private const string MissingSql = """
        SELECT n FROM unnest(@names) AS n
        WHERE NOT EXISTS (SELECT 1 FROM project_secrets s WHERE s.project_id = @project AND s.name = n)
        ORDER BY n
        """;

    /// <summary>
    /// For the claimed work requests that name secrets: whether the claiming worker's pool is one
    /// their project trusts, and — only then — each named secret's sealed bytes (null when the
    /// secret is gone). A worker of an untrusted pool makes the statement read no sealed byte.
    /// One statement for the batch, from primary keys.
    /// </summary>
    private const string ClaimSql = """
        SELECT w.id, w.project_id, p.name, t.pool_id IS NOT NULL AS trusted, n.name, s.sealed, s.key_id
        FROM work_requests w
        JOIN projects p ON p.id = w.project_id
        CROSS JOIN LATERAL unnest(w.secrets) AS n(name)
        LEFT JOIN workers k ON k.id = @worker
        -- a worker without a pool row is the default pool's (as 0012 put every earlier worker there)
        LEFT JOIN project_trusted_pools t ON t.project_id = w.project_id
            AND t.pool_id = coalesce(k.pool_id, (SELECT id FROM worker_pools WHERE name = 'default'))
        LEFT JOIN project_secrets s ON t.pool_id IS NOT NULL AND s.project_id = w.project_id AND s.name = n.name
        WHERE w.id = ANY(@ids) AND cardinality(w.secrets) > 0
        ORDER BY w.id, n.name
        """;

    /// <summary>The key's id (what new values are sealed with).</summary>
    public string KeyId => box.KeyId;

    /// <summary>Seals and stores <paramref name="value"/>, audited as <c>secret.set</c>.</summary>
    /// <returns>True when the secret is new, false when its value was replaced, null when the project already holds <see cref="MaxPerProject"/> others.</returns>
    public async Task<bool?> SetAsync(long projectId, string projectName, string name, string value, AuditActor actor, long? userId, CancellationToken ct)
    {
        var sealedValue = box.Seal(projectId, name, value);
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        bool created;
        await using (var cmd = new NpgsqlCommand(SetSql, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
            cmd.Parameters.Add(new NpgsqlParameter<byte[]>("sealed", sealedValue));
            cmd.Parameters.Add(new NpgsqlParameter<string>("key_id", box.KeyId));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            cmd.Parameters.Add(new NpgsqlParameter<long?>("user", userId));
            cmd.Parameters.Add(new NpgsqlParameter<long>("max", MaxPerProject));
            if (await cmd.ExecuteScalarAsync(ct) is not bool inserted)
            {
                return null;
            }
            created = inserted;
        }
        await audit.RecordAsync(actor, "secret.set", $"project:{projectName}", new { secret = name, created, keyId = box.KeyId }, ct, conn);
        await tx.CommitAsync(ct);
        return created;
    }

    /// <summary>The project's secrets by name: metadata only.</summary>
    public async Task<IReadOnlyList<SecretView>> ListAsync(long projectId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var list = new List<SecretView>();
        while (await reader.ReadAsync(ct))
        {
            list.Add(new SecretView(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3)));
        }
        return list;
    }

    /// <summary>Deletes the secret, audited as <c>secret.delete</c>; false when there was none.</summary>
    public async Task<bool> DeleteAsync(long projectId, string projectName, string name, AuditActor actor, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand(DeleteSql, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
            if (await cmd.ExecuteNonQueryAsync(ct) == 0)
            {
                return false;
            }
        }
        await audit.RecordAsync(actor, "secret.delete", $"project:{projectName}", new { secret = name }, ct, conn);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Of <paramref name="names"/>, those project <paramref name="projectId"/> has no secret of, in order.</summary>
    public async Task<IReadOnlyList<string>> MissingAsync(long projectId, IReadOnlyCollection<string> names, CancellationToken ct)
    {
        if (names.Count == 0)
        {
            return [];
        }
        await using var cmd = dataSource.CreateCommand(MissingSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("names", [.. names]));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var missing = new List<string>();
        while (await reader.ReadAsync(ct))
        {
            missing.Add(reader.GetString(0));
        }
        return missing;
    }

    /// <summary>
    /// What the worker <paramref name="workerId"/> gets for the claimed work requests <paramref name="ids"/>
    /// that name secrets (the others are not in the answer): opened values when its pool is trusted by the
    /// job's project and every secret opens, else why not (naming the secret, never its value).
    /// </summary>
    public async Task<IReadOnlyDictionary<long, ClaimSecrets>> ClaimSecretsAsync(long workerId, IReadOnlyCollection<long> ids, CancellationToken ct)
    {
        var rows = new List<(long Id, long ProjectId, string Project, bool Trusted, string Name, byte[]? Sealed, string? KeyId)>();
        await using (var cmd = dataSource.CreateCommand(ClaimSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("worker", workerId));
            cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. ids]));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                rows.Add((reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetBoolean(3), reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetFieldValue<byte[]>(5), reader.IsDBNull(6) ? null : reader.GetString(6)));
            }
        }
        var result = new Dictionary<long, ClaimSecrets>();
        foreach (var request in rows.GroupBy(r => r.Id))
        {
            var first = request.First();
            if (!first.Trusted)
            {
                result[request.Key] = new ClaimSecrets(null,
                    $"this worker's pool is not trusted by project '{first.Project}' with its secrets, and the job names secrets; the job goes to a worker of a trusted pool (kiln project trust {first.Project} POOL)");
                continue;
            }
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            string? refusal = null;
            foreach (var row in request)
            {
                if (row.Sealed is null)
                {
                    refusal = $"the job names secret '{row.Name}', which project '{row.Project}' no longer has; set it again (kiln secret set {row.Project} {row.Name}) and retry";
                    break;
                }
                try
                {
                    values[row.Name] = box.Open(row.ProjectId, row.Name, row.Sealed, row.KeyId);
                }
                catch (System.Security.Cryptography.CryptographicException e)
                {
                    refusal = $"the server cannot open secret '{row.Name}' of project '{row.Project}': {e.Message}";
                    break;
                }
            }
            result[request.Key] = refusal is null ? new ClaimSecrets(values, null) : new ClaimSecrets(null, refusal);
        }
        return result;
    }
}
