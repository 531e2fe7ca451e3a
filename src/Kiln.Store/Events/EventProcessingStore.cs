using Kiln.Contracts;
using Kiln.Core.Triggers;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Events;

/// <summary>
/// The reads and locks of the event processor (docs/events.md, "Processing"): the backlog in
/// arrival order, the claim of one event, the kept (deferred) events of resumed rules, the
/// counts of the storm guard, and pause and resume.
/// </summary>
public sealed class EventProcessingStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>Arrival order is id order (events_backlog); a paused source's events stay where they are.</summary>
    private const string BacklogSql = """
        SELECT id FROM events
        WHERE state = 'received' AND source NOT IN (SELECT source FROM event_sources WHERE paused)
        ORDER BY id LIMIT @limit
        """;

    /// <summary>
    /// Says once, on each waiting event of a paused source, why it waits (kept, processed on resume).
    /// </summary>
    private const string NotePausedSql = """
        UPDATE events e SET effects = effects || jsonb_build_array(jsonb_build_object('kind', 'paused',
            'message', 'source ' || e.source || ' is paused: the event is kept and processed on resume (kiln events resume --source ' || e.source || ')'))
        WHERE e.state = 'received' AND e.source IN (SELECT source FROM event_sources WHERE paused)
          AND NOT e.effects @> '[{"kind": "paused"}]'
        """;

    /// <summary>
    /// SKIP LOCKED: an event another processor holds is its to finish; the state check makes a processed
    /// one a no-op. NO KEY UPDATE, not UPDATE: the workflow submitted meanwhile (on another connection)
    /// references this row, and its foreign-key check takes KEY SHARE, which UPDATE would block.
    /// </summary>
    private const string ClaimSql = """
        SELECT source, event_type, facts::text, link_ids FROM events WHERE id = @id AND state = 'received' FOR NO KEY UPDATE SKIP LOCKED
        """;

    /// <summary>Kept events whose rule (and the rule's link, for a forge event) runs again, oldest first.</summary>
    private const string ReadyDeferralsSql = """
        SELECT d.rule_id, d.event_id FROM event_deferrals d
        JOIN trigger_rules r ON r.id = d.rule_id
        JOIN events e ON e.id = d.event_id
        WHERE NOT r.paused
          AND NOT EXISTS (SELECT 1 FROM repository_links l WHERE l.id = ANY(e.link_ids) AND l.project_id = r.project_id AND l.paused)
        ORDER BY d.event_id, d.rule_id LIMIT @limit
        """;

    private const string ClaimDeferralSql = """
        SELECT e.source, e.event_type, e.facts::text, e.link_ids FROM event_deferrals d JOIN events e ON e.id = d.event_id
        WHERE d.rule_id = @rule AND d.event_id = @id FOR UPDATE OF d SKIP LOCKED
        """;

    private const string LinksSql = "SELECT id, project_id, paused FROM repository_links WHERE id = ANY(@ids)";

    private const string SourceSql = "SELECT paused, burst_limit, burst_window_seconds FROM event_sources WHERE source = @source";

    /// <summary>Every workflow the rule made in the window counts, held ones too: approving them does not reopen the flood gate.</summary>
    private const string RuleCountSql = "SELECT count(*)::int FROM workflows WHERE rule_id = @rule AND created_at > @since";

    private const string SourceCountSql = """
        SELECT count(*)::int FROM workflows w JOIN events e ON e.id = w.event_id
        WHERE w.rule_id IS NOT NULL AND w.created_at > @since AND e.source = @source
        """;

    private const string WorkflowStateSql = "SELECT state FROM workflows WHERE id = @id";

    /// <summary>The input-change check before planning anything: the unique index workflows_rule_input answers it.</summary>
    private const string ExistingForInputSql = """
        SELECT id, event_id FROM workflows WHERE project_id = @project AND rule_id = @rule AND input_key = @key
        """;

    public async Task<IReadOnlyList<long>> BacklogAsync(int limit, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using (var note = new NpgsqlCommand(NotePausedSql, conn))
        {
            await note.ExecuteNonQueryAsync(ct);
        }
        await using var cmd = new NpgsqlCommand(BacklogSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit));
        return await ReadLongsAsync(cmd, ct);
    }

    /// <summary>Locks a received event for processing; null when it was processed or another processor holds it.</summary>
    public Task<EventClaim?> ClaimAsync(long eventId, CancellationToken ct) => ClaimAsync(ClaimSql, eventId, null, ct);

    /// <summary>Locks one kept (event, rule) pair for processing on resume.</summary>
    public Task<EventClaim?> ClaimDeferralAsync(long ruleId, long eventId, CancellationToken ct) => ClaimAsync(ClaimDeferralSql, eventId, ruleId, ct);

    public async Task<IReadOnlyList<(long RuleId, long EventId)>> ReadyDeferralsAsync(int limit, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(ReadyDeferralsSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit));
        var pairs = new List<(long, long)>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            pairs.Add((reader.GetInt64(0), reader.GetInt64(1)));
        }
        return pairs;
    }

    public async Task<IReadOnlyList<LinkState>> LinksAsync(IReadOnlyList<long> ids, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return [];
        }
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(LinksSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. ids]));
        var links = new List<LinkState>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            links.Add(new(reader.GetInt64(0), reader.GetInt64(1), reader.GetBoolean(2)));
        }
        return links;
    }

    public async Task<SourceState> SourceAsync(string source, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(SourceSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("source", source));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new(reader.GetBoolean(0), reader.IsDBNull(1) ? null : reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetInt32(2))
            : new(false, null, null);
    }

    public Task<int> RuleCountAsync(long ruleId, DateTimeOffset since, CancellationToken ct) =>
        CountAsync(RuleCountSql, p => p.Add(new NpgsqlParameter<long>("rule", ruleId)), since, ct);

    public Task<int> SourceCountAsync(string source, DateTimeOffset since, CancellationToken ct) =>
        CountAsync(SourceCountSql, p => p.Add(new NpgsqlParameter<string>("source", source)), since, ct);

    public async Task<string?> WorkflowStateAsync(long workflowId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(WorkflowStateSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workflowId));
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    /// <summary>The workflow the rule already made for this input key, and the event that made it; null when none.</summary>
    public async Task<(long WorkflowId, long? EventId)?> ExistingForInputAsync(long projectId, long ruleId, string inputKey, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(ExistingForInputSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        cmd.Parameters.Add(new NpgsqlParameter<long>("rule", ruleId));
        cmd.Parameters.Add(new NpgsqlParameter<string>("key", inputKey));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt64(1)) : null;
    }

    public DateTimeOffset Now => time.GetUtcNow();

    private async Task<int> CountAsync(string sql, Action<NpgsqlParameterCollection> bind, DateTimeOffset since, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        bind(cmd.Parameters);
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("since", since));
        return (int)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private async Task<EventClaim?> ClaimAsync(string sql, long eventId, long? ruleId, CancellationToken ct)
    {
        var conn = await dataSource.OpenConnectionAsync(ct);
        NpgsqlTransaction? tx = null;
        try
        {
            tx = await conn.BeginTransactionAsync(ct);
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", eventId));
            if (ruleId is { } r)
            {
                cmd.Parameters.Add(new NpgsqlParameter<long>("rule", r));
            }
            TriggerEvent e;
            long[] links;
            await using (var reader = await cmd.ExecuteReaderAsync(ct))
            {
                if (!await reader.ReadAsync(ct))
                {
                    await tx.DisposeAsync();
                    await conn.DisposeAsync();
                    return null;
                }
                e = new TriggerEvent(eventId, reader.GetString(0), reader.GetString(1), EventJson.ReadFacts(reader.GetString(2)));
                links = reader.GetFieldValue<long[]>(3);
            }
            return new EventClaim(conn, tx, e, links, ruleId);
        }
        catch
        {
            if (tx is not null)
            {
                await tx.DisposeAsync();
            }
            await conn.DisposeAsync();
            throw;
        }
    }

    private static async Task<IReadOnlyList<long>> ReadLongsAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var ids = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }
}
