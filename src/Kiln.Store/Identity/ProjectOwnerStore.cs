using Kiln.Contracts;
using Kiln.Core.Security;
using Npgsql;

namespace Kiln.Store.Identity;

/// <summary>What a change of members found.</summary>
public enum MemberChange
{
    Changed,
    Unchanged,

    /// <summary>No user of that name (or, for a removal, no such member).</summary>
    NoSuchUser,

    /// <summary>Refused: the change would leave the project without an owner.</summary>
    LastOwner,
}

/// <summary>
/// What a project's owners change — its description, its visibility, its members and their
/// roles — and the creation of a project by a user who becomes its owner. Every change writes
/// its audit entry in its own transaction. Roles count on the next request: authentication
/// reads a user's memberships with its token every time.
/// </summary>
public sealed class ProjectOwnerStore(NpgsqlDataSource dataSource, TimeProvider time, AuditStore audit)
{
    /// <summary>No write when nothing changes (a PATCH repeating the current values).</summary>
    private const string UpdateSql = """
        UPDATE projects SET description = coalesce(@description, description), visibility = coalesce(@visibility, visibility)
        WHERE name = @name
          AND (description, visibility) IS DISTINCT FROM (coalesce(@description, description), coalesce(@visibility, visibility))
        """;

    private const string MembersSql = """
        SELECT u.name, u.display_name, m.role, m.added_at
        FROM project_members m JOIN users u ON u.id = m.user_id
        WHERE m.project_id = @project ORDER BY u.name
        """;

    /// <summary>
    /// The project's owners, locked in user-id order: two owners demoting each other at once
    /// serialise here, and the second sees that the first is no longer an owner and is refused.
    /// </summary>
    private const string LockOwnersSql = "SELECT user_id FROM project_members WHERE project_id = @project AND role = 'owner' ORDER BY user_id FOR UPDATE";

    private const string UserIdSql = "SELECT id FROM users WHERE name = @name";

    private const string UpsertMemberSql = """
        INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (@project, @user, @role, @now)
        ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role
        WHERE project_members.role IS DISTINCT FROM excluded.role
        """;

    private const string RemoveMemberSql = "DELETE FROM project_members WHERE project_id = @project AND user_id = @user";

    /// <summary>Creates project <paramref name="name"/> owned by <paramref name="userId"/> and records <c>project.create</c>; false when it exists.</summary>
    public async Task<bool> CreateAsync(string name, long userId, string visibility, string description, AuditActor actor, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand(AccessStore.CreateSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
            cmd.Parameters.Add(new NpgsqlParameter<long>("user", userId));
            cmd.Parameters.Add(new NpgsqlParameter<string>("visibility", visibility));
            cmd.Parameters.Add(new NpgsqlParameter<string>("description", description));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            if (await cmd.ExecuteScalarAsync(ct) is not long)
            {
                return false;
            }
        }
        await audit.RecordAsync(actor, "project.create", $"project:{name}", new { visibility, description }, ct, connection);
        await transaction.CommitAsync(ct);
        return true;
    }

    /// <summary>Changes what is given and records <c>project.update</c>; false when nothing changed.</summary>
    public async Task<bool> UpdateAsync(string name, string? description, string? visibility, AuditActor actor, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand(UpdateSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
            cmd.Parameters.Add(new NpgsqlParameter("description", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)description ?? DBNull.Value });
            cmd.Parameters.Add(new NpgsqlParameter("visibility", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)visibility ?? DBNull.Value });
            if (await cmd.ExecuteNonQueryAsync(ct) == 0)
            {
                return false;
            }
        }
        await audit.RecordAsync(actor, "project.update", $"project:{name}", new { description, visibility }, ct, connection);
        await transaction.CommitAsync(ct);
        return true;
    }

    /// <summary>A project's members, by name. Projects have few members: the list is not paginated.</summary>
    public async Task<IReadOnlyList<MemberView>> MembersAsync(long projectId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(MembersSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        var members = new List<MemberView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            members.Add(new MemberView(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3)));
        }
        return members;
    }

    /// <summary>Gives <paramref name="user"/> <paramref name="role"/> in the project (null: removes it) and records <c>member.set</c>/<c>member.remove</c>.</summary>
    public async Task<MemberChange> SetMemberAsync(long projectId, string projectName, string user, ProjectRole? role, AuditActor actor, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        var owners = new List<long>();
        await using (var lockOwners = new NpgsqlCommand(LockOwnersSql, connection))
        {
            lockOwners.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            await using var reader = await lockOwners.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                owners.Add(reader.GetInt64(0));
            }
        }
        long userId;
        await using (var find = new NpgsqlCommand(UserIdSql, connection))
        {
            find.Parameters.Add(new NpgsqlParameter<string>("name", user));
            if (await find.ExecuteScalarAsync(ct) is not long id)
            {
                return MemberChange.NoSuchUser;
            }
            userId = id;
        }
        if (role != ProjectRole.Owner && owners is [var only] && only == userId)
        {
            return MemberChange.LastOwner;
        }
        await using (var cmd = new NpgsqlCommand(role is null ? RemoveMemberSql : UpsertMemberSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            cmd.Parameters.Add(new NpgsqlParameter<long>("user", userId));
            if (role is { } r)
            {
                cmd.Parameters.Add(new NpgsqlParameter<string>("role", ProjectRoles.Name(r)));
                cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            }
            if (await cmd.ExecuteNonQueryAsync(ct) == 0)
            {
                return role is null ? MemberChange.NoSuchUser : MemberChange.Unchanged;
            }
        }
        await audit.RecordAsync(actor, role is null ? "member.remove" : "member.set", $"project:{projectName}",
            new { user, role = role is { } given ? ProjectRoles.Name(given) : null }, ct, connection);
        await transaction.CommitAsync(ct);
        return MemberChange.Changed;
    }
}
