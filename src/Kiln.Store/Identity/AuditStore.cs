using System.Text.Json;
using Npgsql;

namespace Kiln.Store.Identity;

/// <summary>Who did a security-relevant thing: a user, a worker, the system itself, or an anonymous caller.</summary>
/// <param name="Kind">'user', 'worker', 'system' or 'anonymous'.</param>
public sealed record AuditActor(string Kind, long? Id, string Name, string? Address)
{
    public static readonly AuditActor System = new("system", null, "kiln", null);
}

/// <summary>
/// The audit log: every security-relevant change (tokens, users, members and roles, workers and
/// pools, secrets, farm policy) with who, when, from where and what. Append-only. Record the
/// entry in the same transaction as the change when the change has one (pass its connection),
/// so there is never a change without its entry.
/// </summary>
public sealed partial class AuditStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string InsertSql = """
        INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, address, action, target, details)
        VALUES (@at, @kind, @actor, @name, @address, @action, @target, @details)
        """;

    /// <param name="action">What happened, dotted: <c>token.create</c>, <c>token.revoke</c>, <c>user.add</c>,
    /// <c>member.set</c>, <c>worker.enrol</c>, <c>worker.approve</c>, <c>worker.disable</c>, <c>secret.set</c>, <c>project.policy</c>…</param>
    /// <param name="target">What it happened to: <c>user:alice</c>, <c>project:hello</c>, <c>worker:b1</c>, <c>token:17</c>…</param>
    /// <param name="details">Anything else worth keeping (never a secret's value or a token's text).</param>
    /// <param name="connection">The connection of the change's own transaction, if it has one.</param>
    public async Task RecordAsync(AuditActor actor, string action, string target, object? details, CancellationToken ct, NpgsqlConnection? connection = null)
    {
        await using var cmd = connection is null ? dataSource.CreateCommand(InsertSql) : new NpgsqlCommand(InsertSql, connection);
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("at", time.GetUtcNow()));
        cmd.Parameters.Add(new NpgsqlParameter<string>("kind", actor.Kind));
        cmd.Parameters.Add(new NpgsqlParameter<long?>("actor", actor.Id));
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", actor.Name));
        cmd.Parameters.Add(new NpgsqlParameter("address", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)actor.Address ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<string>("action", action));
        cmd.Parameters.Add(new NpgsqlParameter<string>("target", target));
        cmd.Parameters.Add(new NpgsqlParameter("details", NpgsqlTypes.NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(details ?? new { }) });
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
