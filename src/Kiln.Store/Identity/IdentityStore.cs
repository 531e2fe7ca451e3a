using Kiln.Core.Security;
using Npgsql;

namespace Kiln.Store.Identity;

/// <summary>
/// Users and their API tokens: authentication on every request (no cache, so a revocation,
/// an expiry or a disabled user counts on the very next request on every replica), the first
/// admin, and token creation. A token is looked up by the SHA-256 of its text; the text itself
/// is returned once, when it is made, and never stored.
/// </summary>
public sealed partial class IdentityStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>
    /// <c>last_used_at</c> is refreshed at most this often per token: a busy token writes once per
    /// interval, not once per request (the farm's write budget), and replicas racing to refresh it
    /// write once (the UPDATE's own condition).
    /// </summary>
    public static readonly TimeSpan LastUsedInterval = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The token, its user and the user's memberships, in one statement on the token's unique
    /// index and the memberships' (user_id, project_id) index.
    /// </summary>
    private const string AuthenticateSql = """
        SELECT t.id, t.scopes, t.expires_at, t.revoked_at, t.last_used_at, u.id, u.name, u.is_admin, u.disabled_at,
               ARRAY(SELECT m.project_id FROM project_members m WHERE m.user_id = u.id ORDER BY m.project_id),
               ARRAY(SELECT m.role FROM project_members m WHERE m.user_id = u.id ORDER BY m.project_id),
               ARRAY(SELECT p.name FROM project_members m JOIN projects p ON p.id = m.project_id WHERE m.user_id = u.id ORDER BY m.project_id)
        FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.hash = @hash
        """;

    /// <summary>Conditional, so concurrent requests (and replicas) refresh it once per interval.</summary>
    private const string TouchSql = """
        UPDATE api_tokens SET last_used_at = @now
        WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @stale)
        """;

    /// <summary>Only while there is no user at all; two replicas starting together make one (the name is unique).</summary>
    private const string FirstAdminSql = """
        INSERT INTO users (name, display_name, is_admin, created_at)
        SELECT @name, 'Farm administrator', true, @now WHERE NOT EXISTS (SELECT 1 FROM users)
        ON CONFLICT (name) DO NOTHING
        RETURNING id
        """;

    private const string InsertTokenSql = """
        INSERT INTO api_tokens (user_id, hash, prefix, comment, scopes, expires_at, created_at)
        VALUES (@user, @hash, @prefix, @comment, @scopes, @expires, @now)
        RETURNING id
        """;

    private const string UserIdSql = "SELECT id FROM users WHERE name = @name";

    private const string FirstAdminIdSql = "SELECT id FROM users WHERE is_admin AND disabled_at IS NULL ORDER BY id LIMIT 1";

    /// <summary>The user behind <paramref name="token"/> (a well-formed <c>kiln_pat_</c> token), or why not.</summary>
    public async Task<(AuthenticatedUser? User, TokenRefusal Refusal)> AuthenticateAsync(string token, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(AuthenticateSql);
        cmd.Parameters.Add(new NpgsqlParameter<byte[]>("hash", TokenFormat.Hash(token)));
        AuthenticatedUser user;
        DateTimeOffset? lastUsed;
        var now = time.GetUtcNow();
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct))
            {
                return (null, TokenRefusal.Unknown);
            }
            if (!reader.IsDBNull(3))
            {
                return (null, TokenRefusal.Revoked);
            }
            if (!reader.IsDBNull(2) && reader.GetFieldValue<DateTimeOffset>(2) <= now)
            {
                return (null, TokenRefusal.Expired);
            }
            if (!reader.IsDBNull(8))
            {
                return (null, TokenRefusal.UserDisabled);
            }
            lastUsed = reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4);
            var ids = reader.GetFieldValue<long[]>(9);
            var roles = reader.GetFieldValue<string[]>(10);
            var names = reader.GetFieldValue<string[]>(11);
            var byId = new Dictionary<long, ProjectRole>(ids.Length);
            var byName = new Dictionary<string, long>(ids.Length, StringComparer.Ordinal);
            for (var i = 0; i < ids.Length; i++)
            {
                byId[ids[i]] = ProjectRoles.Parse(roles[i]) ?? ProjectRole.None;
                byName[names[i]] = ids[i];
            }
            user = new AuthenticatedUser(reader.GetInt64(5), reader.GetString(6), reader.GetBoolean(7), reader.GetInt64(0),
                ScopeNames.Parse(reader.GetFieldValue<string[]>(1)) ?? Scopes.None, byId, byName);
        }
        if (lastUsed is null || lastUsed < now - LastUsedInterval)
        {
            await using var touch = dataSource.CreateCommand(TouchSql);
            touch.Parameters.Add(new NpgsqlParameter<long>("id", user.TokenId));
            touch.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            touch.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("stale", now - LastUsedInterval));
            await touch.ExecuteNonQueryAsync(ct);
        }
        return (user, TokenRefusal.Unknown);
    }

    /// <summary>
    /// Makes the first admin (<paramref name="name"/>) and a token for it when the farm has no
    /// user yet; returns the token, or null when users exist already.
    /// </summary>
    public async Task<string?> CreateFirstAdminAsync(string name, string comment, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(FirstAdminSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        if (await cmd.ExecuteScalarAsync(ct) is not long id)
        {
            return null;
        }
        return (await CreateTokenAsync(id, comment, Scopes.All, null, ct)).Token;
    }

    /// <summary>A new API token for <paramref name="userId"/>; the text is returned here and nowhere else.</summary>
    public async Task<(long Id, string Token)> CreateTokenAsync(long userId, string comment, Scopes scopes, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        var token = TokenFormat.New(TokenKind.Api);
        await using var cmd = dataSource.CreateCommand(InsertTokenSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("user", userId));
        cmd.Parameters.Add(new NpgsqlParameter<byte[]>("hash", TokenFormat.Hash(token)));
        cmd.Parameters.Add(new NpgsqlParameter<string>("prefix", TokenFormat.DisplayPrefix(token)));
        cmd.Parameters.Add(new NpgsqlParameter<string>("comment", comment));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("scopes", ScopeNames.Names(scopes)));
        cmd.Parameters.Add(new NpgsqlParameter("expires", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = (object?)expiresAt ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        var id = (long)(await cmd.ExecuteScalarAsync(ct))!;
        return (id, token);
    }

    /// <summary>The oldest enabled admin, if any.</summary>
    public async Task<long?> FirstAdminIdAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(FirstAdminIdSql);
        return await cmd.ExecuteScalarAsync(ct) as long?;
    }

    /// <summary>The id of the user named <paramref name="name"/>, if there is one.</summary>
    public async Task<long?> UserIdAsync(string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(UserIdSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        return await cmd.ExecuteScalarAsync(ct) as long?;
    }
}
