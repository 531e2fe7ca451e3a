using Kiln.Contracts;
using Kiln.Core.Triggers;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Events;

/// <summary>
/// One event (or one kept deferral of it) being processed: its row is locked in an open
/// transaction for as long as the rules run, so no second processor takes it, and what the rules
/// did is written and the event marked in that same transaction. If the process dies before
/// <see cref="FinishAsync"/>, nothing of the marking happened and the event is processed again;
/// the workflows it had already submitted are found by their input key (workflows_rule_input).
/// </summary>
public sealed class EventClaim : IAsyncDisposable
{
    private const string MarkProcessedSql = """
        WITH marked AS (
            UPDATE events SET state = 'processed', processed_at = @now, effects = effects || @effects WHERE id = @id
            RETURNING id, link_ids
        ), made AS (
            -- outgoing webhooks: a hook-event target per enabled subscription (with 'event') of a
            -- project owning one of the event's links; none for projects without subscriptions
            INSERT INTO status_targets (channel, kind, event_id, subscription_id, next_attempt_at, created_at)
            SELECT 'hook:' || s.id, 'hook-event', m.id, s.id, @now, @now
            FROM marked m JOIN webhook_subscriptions s ON s.enabled AND 'event' = ANY (s.events)
            WHERE EXISTS (SELECT 1 FROM repository_links l WHERE l.id = ANY (m.link_ids) AND l.project_id = s.project_id)
            RETURNING 1
        )
        SELECT pg_notify('kiln_status', '') FROM made LIMIT 1
        """;

    private const string AppendSql = "UPDATE events SET effects = effects || @effects WHERE id = @id";

    private const string DeferSql = "INSERT INTO event_deferrals (rule_id, event_id) VALUES (@rule, @id) ON CONFLICT DO NOTHING";

    private const string DropDeferralSql = "DELETE FROM event_deferrals WHERE rule_id = @rule AND event_id = @id";

    private readonly NpgsqlConnection _conn;
    private readonly NpgsqlTransaction _tx;
    private readonly List<long> _deferred = [];

    internal EventClaim(NpgsqlConnection conn, NpgsqlTransaction tx, TriggerEvent e, IReadOnlyList<long> linkIds, long? deferredRule)
    {
        _conn = conn;
        _tx = tx;
        Event = e;
        LinkIds = linkIds;
        DeferredRule = deferredRule;
    }

    public TriggerEvent Event { get; }

    public IReadOnlyList<long> LinkIds { get; }

    /// <summary>Set when this is a kept event being processed for one rule on its resume.</summary>
    public long? DeferredRule { get; }

    /// <summary>Keeps the event for a paused rule (or a rule of a paused link): processed for it on resume.</summary>
    public void Defer(long ruleId) => _deferred.Add(ruleId);

    /// <summary>Writes the effects, the deferrals and the mark (processed; or the deferral done), and commits.</summary>
    public async Task FinishAsync(IReadOnlyList<EventEffect> effects, DateTimeOffset now, CancellationToken ct)
    {
        var batch = new NpgsqlBatch(_conn, _tx);
        var mark = new NpgsqlBatchCommand(DeferredRule is null ? MarkProcessedSql : AppendSql);
        mark.Parameters.Add(new NpgsqlParameter<long>("id", Event.Id));
        mark.Parameters.Add(new NpgsqlParameter("effects", NpgsqlDbType.Jsonb) { Value = EventJson.Effects(effects) });
        mark.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        batch.BatchCommands.Add(mark);
        if (DeferredRule is { } done)
        {
            var drop = new NpgsqlBatchCommand(DropDeferralSql);
            drop.Parameters.Add(new NpgsqlParameter<long>("rule", done));
            drop.Parameters.Add(new NpgsqlParameter<long>("id", Event.Id));
            batch.BatchCommands.Add(drop);
        }
        foreach (var rule in _deferred)
        {
            var defer = new NpgsqlBatchCommand(DeferSql);
            defer.Parameters.Add(new NpgsqlParameter<long>("rule", rule));
            defer.Parameters.Add(new NpgsqlParameter<long>("id", Event.Id));
            batch.BatchCommands.Add(defer);
        }
        await using (batch)
        {
            await batch.ExecuteNonQueryAsync(ct);
        }
        await _tx.CommitAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _tx.DisposeAsync();
        await _conn.DisposeAsync();
    }
}
