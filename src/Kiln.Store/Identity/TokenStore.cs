using Kiln.Contracts;
using Kiln.Core.Security;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Identity;

/// <summary>What a revocation found.</summary>
public enum RevokeOutcome
{
    /// <summary>No such token, or one the caller may not see (the same answer: ids of others' tokens do not leak).</summary>
    NotFound,
    Revoked,
    AlreadyRevoked,
}

/// <summary>
/// API tokens as their users manage them: create (the text returned once, only its SHA-256
/// stored), list (never the text nor the hash), revoke, and who a request's token belongs to.
/// Every change writes its audit entry in its own transaction. Authentication itself stays in
/// <see cref="IdentityStore.AuthenticateAsync"/>, which reads the row on every request, so a
/// revocation counts on the next request on every replica.
/// </summary>
public sealed class TokenStore(NpgsqlDataSource dataSource, TimeProvider time, AuditStore audit)
{
    private const string ViewColumns = "t.id, u.name, t.prefix, t.comment, t.scopes, t.created_at, t.expires_at, t.last_used_at, t.revoked_at";

    private const string InsertSql = """
        INSERT INTO api_tokens (user_id, hash, prefix, comment, scopes, expires_at, created_at)
        VALUES (@user, @hash, @prefix, @comment, @scopes, @expires, @now)
        RETURNING id
        """;

    private const string GetSql = $"SELECT {ViewColumns} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = @id";

    /// <summary>One user's tokens, newest last, on the (user_id, id) index.</summary>
    private const string ListSql = $"""
        SELECT {ViewColumns} FROM api_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.user_id = @user AND (@after IS NULL OR t.id > @after)
        ORDER BY t.id LIMIT @limit
        """;

    /// <summary>Locked, so two revocations of one token record one revocation.</summary>
    private const string LockSql = "SELECT t.user_id, t.revoked_at IS NOT NULL, u.name FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = @id FOR UPDATE OF t";

    private const string RevokeSql = "UPDATE api_tokens SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL";

    private const string WhoAmISql = """
        SELECT u.name, u.display_name, u.email, u.is_admin, t.expires_at,
               ARRAY(SELECT p.name FROM project_members m JOIN projects p ON p.id = m.project_id WHERE m.user_id = u.id ORDER BY p.name),
               ARRAY(SELECT m.role FROM project_members m JOIN projects p ON p.id = m.project_id WHERE m.user_id = u.id ORDER BY p.name)
        FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = @token
        """;

    /// <summary>Makes a token for <paramref name="userId"/> and records <c>token.create</c>; the text is returned here and nowhere else.</summary>
    public async Task<CreatedTokenResponse> CreateAsync(long userId, string comment, Scopes scopes, DateTimeOffset? expiresAt, AuditActor actor, CancellationToken ct)
    {
        var token = TokenFormat.New(TokenKind.Api);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        long id;
        await using (var cmd = new NpgsqlCommand(InsertSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("user", userId));
            cmd.Parameters.Add(new NpgsqlParameter<byte[]>("hash", TokenFormat.Hash(token)));
            cmd.Parameters.Add(new NpgsqlParameter<string>("prefix", TokenFormat.DisplayPrefix(token)));
            cmd.Parameters.Add(new NpgsqlParameter<string>("comment", comment));
            cmd.Parameters.Add(new NpgsqlParameter<string[]>("scopes", ScopeNames.Names(scopes)));
            cmd.Parameters.Add(new NpgsqlParameter("expires", NpgsqlDbType.TimestampTz) { Value = (object?)expiresAt ?? DBNull.Value });
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            id = (long)(await cmd.ExecuteScalarAsync(ct))!;
        }
        var view = (await GetAsync(id, ct, connection))!;
        await audit.RecordAsync(actor, "token.create", $"token:{id}",
            new { user = view.User, prefix = view.Prefix, scopes = view.Scopes, expiresAt, comment }, ct, connection);
        await transaction.CommitAsync(ct);
        return new CreatedTokenResponse(token, view);
    }

    public async Task<TokenView?> GetAsync(long id, CancellationToken ct, NpgsqlConnection? connection = null)
    {
        await using var cmd = connection is null ? dataSource.CreateCommand(GetSql) : new NpgsqlCommand(GetSql, connection);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    public async Task<Page<TokenView>> ListAsync(long userId, long? after, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("user", userId));
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<TokenView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(Read(reader));
        }
        return Paging.Of(items, limit, v => v.Id);
    }

    /// <summary>
    /// Revokes token <paramref name="id"/> if <paramref name="ownerOnly"/> is null (an admin) or
    /// owns it, and records <c>token.revoke</c>.
    /// </summary>
    public async Task<RevokeOutcome> RevokeAsync(long id, long? ownerOnly, AuditActor actor, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        string owner;
        await using (var lockCmd = new NpgsqlCommand(LockSql, connection))
        {
            lockCmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await using var reader = await lockCmd.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct) || (ownerOnly is { } only && reader.GetInt64(0) != only))
            {
                return RevokeOutcome.NotFound;
            }
            if (reader.GetBoolean(1))
            {
                return RevokeOutcome.AlreadyRevoked;
            }
            owner = reader.GetString(2);
        }
        await using (var cmd = new NpgsqlCommand(RevokeSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await audit.RecordAsync(actor, "token.revoke", $"token:{id}", new { user = owner }, ct, connection);
        await transaction.CommitAsync(ct);
        return RevokeOutcome.Revoked;
    }

    /// <summary>The user behind token <paramref name="tokenId"/>, with the token's scopes as authenticated.</summary>
    public async Task<WhoAmIView?> WhoAmIAsync(long tokenId, Scopes scopes, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(WhoAmISql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("token", tokenId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        var projects = reader.GetFieldValue<string[]>(5);
        var roles = reader.GetFieldValue<string[]>(6);
        return new WhoAmIView(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3),
            new WhoAmIToken(tokenId, ScopeNames.Names(scopes), reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4)),
            [.. projects.Select((p, i) => new MembershipView(p, roles[i]))]);
    }

    private static TokenView Read(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetFieldValue<string[]>(4), r.GetFieldValue<DateTimeOffset>(5),
        r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6), r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7),
        r.IsDBNull(8) ? null : r.GetFieldValue<DateTimeOffset>(8));
}
