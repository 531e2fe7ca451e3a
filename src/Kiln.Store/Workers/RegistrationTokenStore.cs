using Kiln.Contracts;
using Kiln.Core.Security;
using Npgsql;

namespace Kiln.Store.Workers;

/// <summary>
/// Registration tokens (<c>kiln_reg_…</c>): each enrols workers into one pool until it is revoked
/// or expires. Only the SHA-256 is stored; a token is found by its hash (the unique index), so
/// checking one compares no secret in application code. Rotation is create-then-revoke.
/// </summary>
public sealed class RegistrationTokenStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string InsertSql = """
        INSERT INTO registration_tokens (hash, prefix, pool_id, comment, expires_at, created_at, created_by)
        VALUES (@hash, @prefix, @pool, @comment, @expires, @now, @by)
        RETURNING id
        """;

    /// <summary>
    /// The token's pool and why it might not enrol: revoked or expired (an unknown hash is no
    /// row). Read by hash alone so the caller can say which.
    /// </summary>
    private const string FindSql = """
        SELECT t.pool_id, t.revoked_at, t.expires_at FROM registration_tokens t WHERE t.hash = @hash
        """;

    private const string ViewColumns = """
        t.id, t.prefix, p.name, t.comment, t.created_at, t.expires_at, t.revoked_at
        FROM registration_tokens t JOIN worker_pools p ON p.id = t.pool_id
        """;

    /// <summary>Newest first is not needed: lists are short; keyset by id like every list.</summary>
    private const string ListSql = "SELECT " + ViewColumns + """

        WHERE (@pool IS NULL OR t.pool_id = @pool) AND (@after IS NULL OR t.id > @after)
        ORDER BY t.id LIMIT @limit
        """;

    private const string ViewSql = "SELECT " + ViewColumns + " WHERE t.id = @id";

    /// <summary>A revoked token keeps its first revocation time (no rewrite of a row that does not change).</summary>
    private const string RevokeSql = """
        WITH target AS (SELECT id, revoked_at FROM registration_tokens WHERE id = @id),
        changed AS (UPDATE registration_tokens r SET revoked_at = @now FROM target t WHERE r.id = t.id AND t.revoked_at IS NULL RETURNING r.id)
        SELECT t.id, (SELECT count(*) FROM changed) FROM target t
        """;

    /// <summary>Whether the pool has a token that would enrol a worker now (the server's start asks it of the default pool).</summary>
    private const string HasLiveSql = """
        SELECT EXISTS (SELECT 1 FROM registration_tokens WHERE pool_id = @pool AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > @now))
        """;

    /// <summary>A new token of <paramref name="poolId"/>; its text is returned here and nowhere else.</summary>
    public async Task<CreatedRegistrationToken> CreateAsync(long poolId, string comment, DateTimeOffset? expiresAt, long? createdBy, CancellationToken ct)
    {
        var token = TokenFormat.New(TokenKind.Registration);
        await using var cmd = dataSource.CreateCommand(InsertSql);
        cmd.Parameters.Add(new NpgsqlParameter<byte[]>("hash", TokenFormat.Hash(token)));
        cmd.Parameters.Add(new NpgsqlParameter<string>("prefix", TokenFormat.DisplayPrefix(token)));
        cmd.Parameters.Add(new NpgsqlParameter<long>("pool", poolId));
        cmd.Parameters.Add(new NpgsqlParameter<string>("comment", comment));
        cmd.Parameters.Add(new NpgsqlParameter("expires", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = (object?)expiresAt ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        cmd.Parameters.Add(new NpgsqlParameter<long?>("by", createdBy));
        var id = (long)(await cmd.ExecuteScalarAsync(ct))!;
        return new CreatedRegistrationToken((await GetAsync(id, ct))!, token);
    }

    /// <summary>The pool <paramref name="token"/> enrols into, or why it does not.</summary>
    public async Task<(long? PoolId, string? Refusal)> CheckAsync(string token, CancellationToken ct)
    {
        if (TokenFormat.KindOf(token) != TokenKind.Registration)
        {
            return (null, "not a registration token (they start with 'kiln_reg_'; an admin makes one with 'kiln worker token create --pool POOL')");
        }
        await using var cmd = dataSource.CreateCommand(FindSql);
        cmd.Parameters.Add(new NpgsqlParameter<byte[]>("hash", TokenFormat.Hash(token)));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return (null, "unknown registration token; an admin makes one with 'kiln worker token create --pool POOL'");
        }
        if (!reader.IsDBNull(1))
        {
            return (null, "this registration token was revoked; ask an admin for a new one ('kiln worker token create --pool POOL')");
        }
        if (!reader.IsDBNull(2) && reader.GetFieldValue<DateTimeOffset>(2) <= time.GetUtcNow())
        {
            return (null, "this registration token has expired; ask an admin for a new one ('kiln worker token create --pool POOL')");
        }
        return (reader.GetInt64(0), null);
    }

    public async Task<bool> HasLiveAsync(long poolId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(HasLiveSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("pool", poolId));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        return await cmd.ExecuteScalarAsync(ct) is true;
    }

    public async Task<Page<RegistrationTokenView>> ListAsync(long? poolId, long? after, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        cmd.Parameters.Add(new NpgsqlParameter("pool", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)poolId ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<RegistrationTokenView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(Read(reader));
        }
        return Paging.Of(items, limit, t => t.Id);
    }

    public async Task<RegistrationTokenView?> GetAsync(long id, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ViewSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    /// <returns>Whether this call revoked it (false: it already was), or null when there is no such token.</returns>
    public async Task<bool?> RevokeAsync(long id, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(RevokeSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? reader.GetInt64(1) > 0 : null;
    }

    private static RegistrationTokenView Read(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetFieldValue<DateTimeOffset>(4),
        r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5), r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6));
}
