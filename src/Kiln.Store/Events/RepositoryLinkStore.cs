using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Store.Identity;
using Kiln.Store.Secrets;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Events;

/// <summary>What a project owner links (validated at the edge); the repository in lower case.</summary>
public sealed record LinkSpec(string Forge, string Repository, string Secret, string? ApiUrl, string? Token, string? HookId, int? ReconcileSeconds,
    string Report = "summary", string ReportContext = "kiln", string? InstallationId = null);

/// <summary>A link whose secret may verify a delivery: its id, project and the secret's bytes (the caller clears them).</summary>
public sealed record LinkCandidate(long Id, long ProjectId, string Repository, byte[] Secret);

/// <summary>A link with what a reconcile needs: the forge API and its token, opened.</summary>
public sealed record LinkForReconcile(
    long Id, long ProjectId, string Forge, string Repository, string? ApiUrl, string? Token, string? HookId, DateTimeOffset? LastReconciledAt,
    string? InstallationId = null);

/// <summary>
/// Repository links (<c>repository_links</c>): a forge repository tied to a project, with the secret
/// its webhooks are signed with and optionally a forge API token, both sealed by the farm's
/// <see cref="SecretBox"/> (bound to the project and to the forge and repository, so a sealed value
/// copied to another row does not open). No read returns a secret except <see cref="CandidatesAsync"/>
/// (the intake's verification) and <see cref="ForReconcileAsync"/> (the reconcile's API calls).
/// Every change is audited, never with a secret.
/// </summary>
public sealed class RepositoryLinkStore(NpgsqlDataSource dataSource, SecretBox box, AuditStore audit, TimeProvider time)
{
    /// <summary>Most links a project holds: a list of them needs no paging.</summary>
    public const int MaxPerProject = 100;

    /// <summary>
    /// Create or replace (a new secret, token or settings for the same repository); the count guards
    /// <see cref="MaxPerProject"/> for a new repository only, as for project secrets.
    /// </summary>
    private const string UpsertSql = """
        INSERT INTO repository_links (project_id, forge, repository, secret_sealed, secret_key_id, api_url, token_sealed, token_key_id,
                                      hook_id, reconcile_seconds, report, report_context, installation_id, created_by, created_at)
        SELECT @project, @forge, @repository, @secret, @key_id, @api_url, @token, @token_key_id, @hook_id, @reconcile, @report, @report_context, @installation, @user, @now
        WHERE EXISTS (SELECT 1 FROM repository_links WHERE project_id = @project AND forge = @forge AND repository = @repository)
           OR (SELECT count(*) FROM repository_links WHERE project_id = @project) < @max
        ON CONFLICT (forge, repository, project_id) DO UPDATE
            SET secret_sealed = excluded.secret_sealed, secret_key_id = excluded.secret_key_id, api_url = excluded.api_url,
                token_sealed = excluded.token_sealed, token_key_id = excluded.token_key_id, hook_id = excluded.hook_id,
                reconcile_seconds = excluded.reconcile_seconds, report = excluded.report, report_context = excluded.report_context,
                installation_id = excluded.installation_id
        RETURNING id, (xmax = 0) AS created
        """;

    private const string ViewColumns = """
        l.id, p.name, l.forge, l.repository, l.api_url, l.token_sealed IS NOT NULL, l.hook_id, l.reconcile_seconds, l.paused,
        l.created_at, u.name, l.last_event_at, l.last_reconciled_at, l.secret_key_id, l.report, l.report_context, l.installation_id
        """;

    private const string ListSql = $"""
        SELECT {ViewColumns}
        FROM repository_links l JOIN projects p ON p.id = l.project_id LEFT JOIN users u ON u.id = l.created_by
        WHERE l.project_id = @project ORDER BY l.forge, l.repository
        """;

    private const string GetSql = $"""
        SELECT {ViewColumns}
        FROM repository_links l JOIN projects p ON p.id = l.project_id LEFT JOIN users u ON u.id = l.created_by
        WHERE l.id = @id
        """;

    /// <summary>The project a link belongs to, for the access check (one primary-key lookup).</summary>
    private const string OwnerSql = """
        SELECT p.id, p.name, p.visibility = 'private' FROM repository_links l JOIN projects p ON p.id = l.project_id WHERE l.id = @id
        """;

    private const string DeleteSql = "DELETE FROM repository_links WHERE id = @id RETURNING forge, repository, project_id";

    /// <summary>
    /// The links of a repository (served by repository_links_repository). With @owner (a GitHub
    /// organisation's ping, which names no repository), every link of that owner's repositories.
    /// </summary>
    private const string CandidatesSql = """
        SELECT id, project_id, repository, secret_sealed, secret_key_id FROM repository_links
        WHERE forge = @forge
          AND (lower(repository) = lower(@repository) OR (@owner::text IS NOT NULL AND lower(repository) LIKE lower(@owner) || '/%'))
        ORDER BY id
        LIMIT 100
        """;

    private const string ReconcileSql = """
        SELECT id, project_id, forge, repository, api_url, token_sealed, token_key_id, hook_id, last_reconciled_at, installation_id
        FROM repository_links WHERE id = @id
        """;

    /// <summary>
    /// Takes the link most overdue for its periodic reconcile, marking it reconciled now (so a
    /// second leader, or the next tick, does not take it again). SKIP LOCKED: a link being
    /// changed by its owner waits for the next tick.
    /// </summary>
    private const string TakeDueSql = """
        UPDATE repository_links l SET last_reconciled_at = @now
        FROM (SELECT id, last_reconciled_at AS previous FROM repository_links
              WHERE reconcile_seconds IS NOT NULL AND api_url IS NOT NULL
                AND (last_reconciled_at IS NULL OR last_reconciled_at + make_interval(secs => reconcile_seconds) <= @now)
              ORDER BY last_reconciled_at NULLS FIRST, id
              LIMIT 1 FOR UPDATE SKIP LOCKED) due
        WHERE l.id = due.id
        RETURNING l.id, due.previous
        """;

    /// <summary>When a delivery last came in (kiln repo list); no write when the time has not moved.</summary>
    private const string TouchSql = """
        UPDATE repository_links SET last_event_at = @now
        WHERE id = ANY(@ids) AND last_event_at IS DISTINCT FROM @now
        """;

    public async Task<(long Id, bool Created)?> UpsertAsync(long projectId, string projectName, LinkSpec spec, AuditActor actor, long? userId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using var cmd = new NpgsqlCommand(UpsertSql, conn, tx);
        var p = cmd.Parameters;
        p.Add(new NpgsqlParameter<long>("project", projectId));
        p.Add(new NpgsqlParameter<string>("forge", spec.Forge));
        p.Add(new NpgsqlParameter<string>("repository", spec.Repository));
        p.Add(new NpgsqlParameter<byte[]>("secret", box.Seal(projectId, SealName(spec.Forge, spec.Repository, "secret"), spec.Secret)));
        p.Add(new NpgsqlParameter<string>("key_id", box.KeyId));
        p.Add(new NpgsqlParameter("api_url", NpgsqlDbType.Text) { Value = (object?)spec.ApiUrl ?? DBNull.Value });
        p.Add(new NpgsqlParameter("token", NpgsqlDbType.Bytea)
        {
            Value = spec.Token is { } token ? box.Seal(projectId, SealName(spec.Forge, spec.Repository, "token"), token) : DBNull.Value,
        });
        p.Add(new NpgsqlParameter("token_key_id", NpgsqlDbType.Text) { Value = spec.Token is null ? DBNull.Value : box.KeyId });
        p.Add(new NpgsqlParameter("hook_id", NpgsqlDbType.Text) { Value = (object?)spec.HookId ?? DBNull.Value });
        p.Add(new NpgsqlParameter("reconcile", NpgsqlDbType.Integer) { Value = (object?)spec.ReconcileSeconds ?? DBNull.Value });
        p.Add(new NpgsqlParameter<string>("report", spec.Report));
        p.Add(new NpgsqlParameter<string>("report_context", spec.ReportContext));
        p.Add(new NpgsqlParameter("installation", NpgsqlDbType.Text) { Value = (object?)spec.InstallationId ?? DBNull.Value });
        p.Add(new NpgsqlParameter("user", NpgsqlDbType.Bigint) { Value = (object?)userId ?? DBNull.Value });
        p.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        p.Add(new NpgsqlParameter<int>("max", MaxPerProject));
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct))
            {
                return null;
            }
            var id = reader.GetInt64(0);
            var created = reader.GetBoolean(1);
            await reader.CloseAsync();
            await audit.RecordAsync(actor, created ? "repository-link.create" : "repository-link.update", $"project:{projectName}",
                new { link = id, forge = spec.Forge, repository = spec.Repository, apiUrl = spec.ApiUrl, hookId = spec.HookId, token = spec.Token is not null, reconcileSeconds = spec.ReconcileSeconds,
                    report = spec.Report, reportContext = spec.ReportContext, installationId = spec.InstallationId },
                ct, conn);
            await tx.CommitAsync(ct);
            return (id, created);
        }
    }

    public async Task<IReadOnlyList<RepositoryLinkView>> ListAsync(long projectId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(ListSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var links = new List<RepositoryLinkView>();
        while (await reader.ReadAsync(ct))
        {
            links.Add(Read(reader));
        }
        return links;
    }

    public async Task<RepositoryLinkView?> GetAsync(long id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(GetSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    /// <summary>The project link <paramref name="id"/> belongs to, or null when there is no such link.</summary>
    public async Task<ProjectOfResource?> OwnerAsync(long id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(OwnerSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? new ProjectOfResource(reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2), null) : null;
    }

    /// <summary>Removes the link (its stored events stay, naming its id); false when there was none.</summary>
    public async Task<bool> DeleteAsync(long id, string projectName, AuditActor actor, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using var cmd = new NpgsqlCommand(DeleteSql, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct))
            {
                return false;
            }
            var details = new { link = id, forge = reader.GetString(0), repository = reader.GetString(1) };
            await reader.CloseAsync();
            await audit.RecordAsync(actor, "repository-link.delete", $"project:{projectName}", details, ct, conn);
        }
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>
    /// The links whose secret may have signed a delivery for <paramref name="repository"/> (or, with
    /// <paramref name="owner"/>, any repository of that owner), with their secrets opened. A secret
    /// sealed under another key cannot verify anything and is left out.
    /// </summary>
    public async Task<IReadOnlyList<LinkCandidate>> CandidatesAsync(string forge, string? repository, string? owner, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(CandidatesSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("forge", forge));
        cmd.Parameters.Add(new NpgsqlParameter("repository", NpgsqlDbType.Text) { Value = (object?)repository ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("owner", NpgsqlDbType.Text) { Value = (object?)owner ?? DBNull.Value });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var links = new List<LinkCandidate>();
        while (await reader.ReadAsync(ct))
        {
            var (id, project, name) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2));
            try
            {
                var secret = box.Open(project, SealName(forge, name, "secret"), reader.GetFieldValue<byte[]>(3), reader.GetString(4));
                links.Add(new LinkCandidate(id, project, name, Encoding.UTF8.GetBytes(secret)));
            }
            catch (CryptographicException)
            {
                // Sealed under another farm key: it verifies nothing until the owner links again.
            }
        }
        return links;
    }

    /// <summary>The link with its API token opened, for a reconcile; null when there is no such link.</summary>
    /// <exception cref="CryptographicException">The token was sealed under another key (the message says so).</exception>
    public async Task<LinkForReconcile?> ForReconcileAsync(long id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(ReconcileSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        var (project, forge, repository) = (reader.GetInt64(1), reader.GetString(2), reader.GetString(3));
        var token = reader.IsDBNull(5) ? null
            : box.Open(project, SealName(forge, repository, "token"), reader.GetFieldValue<byte[]>(5), reader.IsDBNull(6) ? null : reader.GetString(6));
        return new LinkForReconcile(id, project, forge, repository, reader.IsDBNull(4) ? null : reader.GetString(4), token,
            reader.IsDBNull(7) ? null : reader.GetString(7), reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8),
            reader.IsDBNull(9) ? null : reader.GetString(9));
    }

    /// <summary>A link due for its periodic reconcile, marked as reconciled now, with when it was reconciled before; null when none is due.</summary>
    public async Task<(long Id, DateTimeOffset? Previous)?> TakeDueAsync(CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(TakeDueSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetFieldValue<DateTimeOffset>(1)) : null;
    }

    /// <summary>Records that a delivery for these links came in now.</summary>
    public async Task TouchAsync(IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(TouchSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. ids]));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>What a sealed value is bound to besides its project: the forge, the repository and which of the two secrets.</summary>
    private static string SealName(string forge, string repository, string which) => $"repository-link {forge} {repository} {which}";

    private static RepositoryLinkView Read(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), $"/api/v1/hooks/{r.GetString(2)}",
        r.IsDBNull(4) ? null : r.GetString(4), r.GetBoolean(5), r.IsDBNull(6) ? null : r.GetString(6),
        r.IsDBNull(7) ? null : r.GetInt32(7), r.GetBoolean(8), r.GetFieldValue<DateTimeOffset>(9), r.IsDBNull(10) ? null : r.GetString(10),
        r.IsDBNull(11) ? null : r.GetFieldValue<DateTimeOffset>(11), r.IsDBNull(12) ? null : r.GetFieldValue<DateTimeOffset>(12), r.GetString(13),
        r.GetString(14), r.GetString(15), r.IsDBNull(16) ? null : r.GetString(16));
}
