using Npgsql;

namespace Kiln.Store.Events;

/// <summary>
/// Pause and resume of a source, a repository link or a rule (docs/events.md, "Pause"). Pausing
/// never drops anything: a paused source's events stay received (the backlog); a paused link's or
/// rule's matching events are kept for it (event_deferrals). Resume wakes the processor, which
/// takes the kept events first and then the backlog, in arrival order, each once.
/// </summary>
public sealed class EventPauses(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string SourceSql = $"""
        WITH set AS (
            INSERT INTO event_sources (source, paused, updated_at) VALUES (@source, @paused, @now)
            ON CONFLICT (source) DO UPDATE SET paused = EXCLUDED.paused, updated_at = EXCLUDED.updated_at
            RETURNING 1
        ), woken AS (
            SELECT pg_notify('{EventStore.Channel}', 'resume') WHERE NOT @paused
        )
        SELECT (SELECT count(*) FROM events WHERE source = @source AND state = 'received')::int, (SELECT count(*) FROM set), (SELECT count(*) FROM woken)
        """;

    private const string LinkSql = $"""
        WITH set AS (
            UPDATE repository_links SET paused = @paused WHERE id = @id RETURNING project_id
        ), woken AS (
            SELECT pg_notify('{EventStore.Channel}', 'resume') FROM set WHERE NOT @paused
        )
        SELECT (SELECT count(*) FROM event_deferrals d JOIN events e ON e.id = d.event_id JOIN trigger_rules r ON r.id = d.rule_id
                WHERE @id = ANY(e.link_ids) AND r.project_id = (SELECT project_id FROM set))::int,
               (SELECT count(*) FROM set), (SELECT count(*) FROM woken)
        """;

    private const string RuleSql = $"""
        WITH set AS (
            UPDATE trigger_rules SET paused = @paused WHERE id = @id RETURNING id
        ), woken AS (
            SELECT pg_notify('{EventStore.Channel}', 'resume') FROM set WHERE NOT @paused
        )
        SELECT (SELECT count(*) FROM event_deferrals WHERE rule_id = @id)::int, (SELECT count(*) FROM set), (SELECT count(*) FROM woken)
        """;

    private const string LinkProjectSql = "SELECT p.name FROM repository_links l JOIN projects p ON p.id = l.project_id WHERE l.id = @id";

    /// <summary>Returns the backlog of the source (events waiting).</summary>
    public async Task<int> SetSourceAsync(string source, bool paused, CancellationToken ct) =>
        (await RunAsync(SourceSql, p => p.Add(new NpgsqlParameter<string>("source", source)), paused, ct))!.Value;

    /// <summary>Returns the events kept for the link's rules, or null when the link does not exist.</summary>
    public Task<int?> SetLinkAsync(long linkId, bool paused, CancellationToken ct) =>
        RunAsync(LinkSql, p => p.Add(new NpgsqlParameter<long>("id", linkId)), paused, ct);

    /// <summary>Returns the events kept for the rule, or null when the rule does not exist.</summary>
    public Task<int?> SetRuleAsync(long ruleId, bool paused, CancellationToken ct) =>
        RunAsync(RuleSql, p => p.Add(new NpgsqlParameter<long>("id", ruleId)), paused, ct);

    /// <summary>The name of the project a link belongs to (for the owner check), or null.</summary>
    public async Task<string?> LinkProjectAsync(long linkId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(LinkProjectSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", linkId));
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    private async Task<int?> RunAsync(string sql, Action<NpgsqlParameterCollection> bind, bool paused, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        bind(cmd.Parameters);
        cmd.Parameters.Add(new NpgsqlParameter<bool>("paused", paused));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return reader.GetInt64(1) == 0 ? null : reader.GetInt32(0);
    }
}
