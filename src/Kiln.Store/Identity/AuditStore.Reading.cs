using System.Text.Json;
using Kiln.Contracts;
using Npgsql;

namespace Kiln.Store.Identity;

public sealed partial class AuditStore
{
    /// <summary>
    /// Newest first by id (the order entries were written). Each filter is served by its own
    /// (column, id) index (migration 0013), so a filtered page reads only matching entries; the
    /// statement names only the filters given (fixed fragments, never the caller's text), so
    /// each shape gets its own plan rather than one generic plan for "maybe filtered".
    /// </summary>
    private static string ListSql(bool after, bool action, bool actor, bool target)
    {
        var where = new List<string>();
        if (after) { where.Add("id < @after"); }
        if (action) { where.Add("action = @action"); }
        if (actor) { where.Add("actor_name = @actor"); }
        if (target) { where.Add("target = @target"); }
        return $"""
            SELECT id, at, actor_kind, actor_name, address, action, target, details
            FROM audit_log {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))}
            ORDER BY id DESC LIMIT @limit
            """;
    }

    /// <summary>A page of the audit log, newest first; null filters match everything.</summary>
    public async Task<Page<AuditEntryView>> ListAsync(string? action, string? actor, string? target, long? after, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql(after is not null, action is not null, actor is not null, target is not null));
        if (after is { } a) { cmd.Parameters.Add(new NpgsqlParameter<long>("after", a)); }
        if (action is not null) { cmd.Parameters.Add(new NpgsqlParameter<string>("action", action)); }
        if (actor is not null) { cmd.Parameters.Add(new NpgsqlParameter<string>("actor", actor)); }
        if (target is not null) { cmd.Parameters.Add(new NpgsqlParameter<string>("target", target)); }
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<AuditEntryView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            using var details = JsonDocument.Parse(reader.GetString(7));
            items.Add(new AuditEntryView(reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetString(5), reader.GetString(6), details.RootElement.Clone()));
        }
        return Paging.Of(items, limit, v => v.Id);
    }
}
