using System.Text.Json;
using Kiln.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Events;

/// <summary>
/// Reading events (GET /api/v1/events): newest first, keyset-paginated. Who sees what (docs/events.md,
/// "Access"): an admin every event; anyone else a forge event of a link to a project it may see, a
/// Koji event, a schedule or manual event of a project it may see — never a rejected one (a security
/// event, for admins).
/// </summary>
public sealed class EventQueries(NpgsqlDataSource dataSource)
{
    private const string Columns = """
        e.id, e.source, e.event_type, e.state, e.delivery_key, e.link_ids, e.received_at, e.processed_at, e.facts::text, e.effects::text
        """;

    /// <summary>@hidden: the private projects the caller may not see (empty for an admin, who also has @all).</summary>
    private const string Visible = """
        (@all OR (e.state <> 'rejected' AND (
            e.source = 'koji'
            OR EXISTS (SELECT 1 FROM repository_links l WHERE l.id = ANY(e.link_ids) AND NOT (l.project_id = ANY(@hidden)))
            OR (e.source IN ('schedule', 'manual')
                AND EXISTS (SELECT 1 FROM projects p WHERE p.name = e.facts ->> 'project' AND NOT (p.id = ANY(@hidden)))))))
        """;

    private const string ListSql = $"""
        SELECT {Columns} FROM events e
        WHERE (@after::bigint IS NULL OR e.id < @after)
          AND (@source::text IS NULL OR e.source = @source)
          AND (@state::text IS NULL OR e.state = @state)
          AND (@project::text IS NULL
               OR EXISTS (SELECT 1 FROM repository_links l JOIN projects p ON p.id = l.project_id WHERE l.id = ANY(e.link_ids) AND p.name = @project)
               OR e.facts ->> 'project' = @project
               OR EXISTS (SELECT 1 FROM workflows w JOIN projects p ON p.id = w.project_id WHERE w.event_id = e.id AND p.name = @project))
          AND {Visible}
        ORDER BY e.id DESC LIMIT @limit
        """;

    private const string GetSql = $"""
        SELECT {Columns}, e.headers::text, e.body_size, e.remote_address FROM events e WHERE e.id = @id AND {Visible}
        """;

    public async Task<Page<EventSummary>> ListAsync(
        string? source, string? state, string? project, long? after, int limit, bool all, long[] hidden, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(ListSql, conn);
        var p = cmd.Parameters;
        p.Add(new NpgsqlParameter("after", NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        p.Add(new NpgsqlParameter("source", NpgsqlDbType.Text) { Value = (object?)source ?? DBNull.Value });
        p.Add(new NpgsqlParameter("state", NpgsqlDbType.Text) { Value = (object?)state ?? DBNull.Value });
        p.Add(new NpgsqlParameter("project", NpgsqlDbType.Text) { Value = (object?)project ?? DBNull.Value });
        p.Add(new NpgsqlParameter<bool>("all", all));
        p.Add(new NpgsqlParameter<long[]>("hidden", hidden));
        p.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<EventSummary>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var effects = EventJson.ReadEffects(reader.GetString(9));
            items.Add(new EventSummary(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.GetFieldValue<long[]>(5), reader.GetFieldValue<DateTimeOffset>(6), reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
                EventJson.ReadFacts(reader.GetString(8)), Summary(reader.GetString(3), effects)));
        }
        return Paging.Of(items, limit, e => e.Id);
    }

    public async Task<EventView?> GetAsync(long id, bool all, long[] hidden, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(GetSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        cmd.Parameters.Add(new NpgsqlParameter<bool>("all", all));
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("hidden", hidden));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        return new EventView(
            reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
            reader.GetFieldValue<long[]>(5), reader.GetFieldValue<DateTimeOffset>(6), reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
            EventJson.ReadFacts(reader.GetString(8)), EventJson.ReadEffects(reader.GetString(9)),
            JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(10)) ?? [], reader.GetInt32(11),
            reader.IsDBNull(12) ? null : reader.GetString(12));
    }

    /// <summary>What <c>kiln events list</c> shows for an event: its effects' messages, or why it has none yet.</summary>
    public static string Summary(string state, IReadOnlyList<EventEffect> effects)
    {
        if (effects.Count == 0)
        {
            return state == EventStates.Received ? "waiting to be processed" : state;
        }
        var text = string.Join("; ", effects.Select(e => e.Message));
        return text.Length <= 200 ? text : text[..199] + "…";
    }
}
