using Kiln.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Identity;

/// <summary>What disabling or enabling a user found.</summary>
public enum UserChange
{
    NotFound,
    Changed,
    Unchanged,

    /// <summary>Refused: it is the last enabled admin, and a farm without one could never be managed again.</summary>
    LastAdmin,
}

/// <summary>
/// The farm's users, as admins manage them: add, list, show, disable (its tokens stop working on
/// the next request, since authentication reads the user with the token) and enable. Every change
/// writes its audit entry in its own transaction.
/// </summary>
public sealed class UserStore(NpgsqlDataSource dataSource, TimeProvider time, AuditStore audit)
{
    private const string ViewColumns = "id, name, display_name, email, is_admin, disabled_at, created_at";

    /// <summary>Nothing when the name is taken (the unique index decides, also between two concurrent adds).</summary>
    private const string InsertSql = $"""
        INSERT INTO users (name, display_name, email, is_admin, created_at) VALUES (@name, @display, @email, @admin, @now)
        ON CONFLICT (name) DO NOTHING
        RETURNING {ViewColumns}
        """;

    private const string GetSql = $"SELECT {ViewColumns} FROM users WHERE name = @name";

    private const string ListSql = $"SELECT {ViewColumns} FROM users WHERE (@after IS NULL OR id > @after) ORDER BY id LIMIT @limit";

    /// <summary>
    /// The enabled admins, locked in id order: two admins disabling each other at once serialise
    /// here, and the second sees the first's change (the row no longer matches) and is refused.
    /// </summary>
    private const string LockAdminsSql = "SELECT id FROM users WHERE is_admin AND disabled_at IS NULL ORDER BY id FOR UPDATE";

    private const string LockUserSql = "SELECT id, is_admin, disabled_at IS NOT NULL FROM users WHERE name = @name FOR UPDATE";

    private const string DisableSql = "UPDATE users SET disabled_at = @now WHERE id = @id AND disabled_at IS NULL";

    private const string EnableSql = "UPDATE users SET disabled_at = NULL WHERE id = @id AND disabled_at IS NOT NULL";

    /// <summary>Adds a user and records <c>user.add</c>; null when the name is taken.</summary>
    public async Task<UserView?> CreateAsync(string name, string displayName, string email, bool admin, AuditActor actor, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        UserView view;
        await using (var cmd = new NpgsqlCommand(InsertSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
            cmd.Parameters.Add(new NpgsqlParameter<string>("display", displayName));
            cmd.Parameters.Add(new NpgsqlParameter<string>("email", email));
            cmd.Parameters.Add(new NpgsqlParameter<bool>("admin", admin));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return null;
            }
            view = Read(reader);
        }
        await audit.RecordAsync(actor, "user.add", $"user:{name}", new { displayName, email, admin }, ct, connection);
        await transaction.CommitAsync(ct);
        return view;
    }

    public async Task<UserView?> GetAsync(string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(GetSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    public async Task<Page<UserView>> ListAsync(long? after, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<UserView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(Read(reader));
        }
        return Paging.Of(items, limit, v => v.Id);
    }

    /// <summary>Disables (<paramref name="disable"/>) or enables user <paramref name="name"/> and records <c>user.disable</c>/<c>user.enable</c>.</summary>
    public async Task<UserChange> SetDisabledAsync(string name, bool disable, AuditActor actor, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var admins = new List<long>();
        if (disable)
        {
            await using var lockAdmins = new NpgsqlCommand(LockAdminsSql, connection);
            await using var reader = await lockAdmins.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                admins.Add(reader.GetInt64(0));
            }
        }
        long id;
        bool disabled;
        await using (var lockUser = new NpgsqlCommand(LockUserSql, connection))
        {
            lockUser.Parameters.Add(new NpgsqlParameter<string>("name", name));
            await using var reader = await lockUser.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return UserChange.NotFound;
            }
            id = reader.GetInt64(0);
            disabled = reader.GetBoolean(2);
        }
        if (disabled == disable)
        {
            return UserChange.Unchanged;
        }
        if (disable && admins.Count == 1 && admins[0] == id)
        {
            return UserChange.LastAdmin;
        }
        await using (var cmd = new NpgsqlCommand(disable ? DisableSql : EnableSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await audit.RecordAsync(actor, disable ? "user.disable" : "user.enable", $"user:{name}", null, ct, connection);
        await transaction.CommitAsync(ct);
        return UserChange.Changed;
    }

    private static UserView Read(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetBoolean(4), !r.IsDBNull(5),
        r.GetFieldValue<DateTimeOffset>(6), r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5));
}
