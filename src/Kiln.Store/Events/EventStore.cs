using Kiln.Contracts;
using Npgsql;
using NpgsqlTypes;
using System.Text.Json;

namespace Kiln.Store.Events;

/// <summary>An event as the intake stores it, before any rule sees it.</summary>
/// <param name="DeliveryKey">The forge's or bus's id of the delivery; null for a rejected event (never occupies a real key).</param>
/// <param name="State"><see cref="EventStates.Received"/> (to be processed), <see cref="EventStates.Ignored"/> or <see cref="EventStates.Rejected"/>.</param>
/// <param name="Headers">The request headers worth keeping (event type, delivery id, user agent) — never a signature or token.</param>
/// <param name="Body">The exact bytes received.</param>
/// <param name="LinkIds">The repository links whose secret verified it.</param>
/// <param name="Effects">For an ignored or rejected event, why.</param>
/// <param name="BodySize">The size received when <paramref name="Body"/> is not kept whole (a rejected delivery); null: Body's length.</param>
public sealed record NewEvent(
    string Source, string? DeliveryKey, string Type, string State, EventFacts Facts,
    IReadOnlyDictionary<string, string> Headers, byte[]? Body, IReadOnlyList<long> LinkIds, string? RemoteAddress,
    IReadOnlyList<EventEffect>? Effects = null, int? BodySize = null);

/// <summary>
/// Store, then acknowledge: the intake's one write. An event goes in under its unique
/// (source, delivery key) in one statement that also wakes the processing duty
/// (<see cref="Channel"/>); a delivery already stored inserts nothing and answers the first one.
/// Processing happens afterwards, in the leader's event duty, so no rule can make a forge wait.
/// </summary>
public sealed class EventStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>NOTIFY channel: a received event is waiting (payload: its id).</summary>
    public const string Channel = "kiln_events";

    private const string InsertSql = $"""
        WITH stored AS (
            INSERT INTO events (source, delivery_key, link_ids, event_type, action, state, facts, headers, body, body_size,
                                effects, remote_address, received_at, processed_at)
            VALUES (@source, @key, @links, @type, @action, @state, @facts, @headers, @body, @size,
                    @effects, @remote, @now, CASE WHEN @state = 'received' THEN NULL ELSE @now END)
            ON CONFLICT (source, delivery_key) DO NOTHING
            RETURNING id
        ), woken AS (
            SELECT pg_notify('{Channel}', id::text) FROM stored WHERE @state = 'received'
        )
        SELECT id, (SELECT count(*) FROM woken) FROM stored
        """;

    private const string AppendEffectsSql = "UPDATE events SET effects = effects || @effects WHERE id = @id";

    private const string ExistingSql = "SELECT id, state FROM events WHERE source = @source AND delivery_key = @key";

    /// <summary>Stores <paramref name="e"/>, or finds the delivery stored before under the same key.</summary>
    public async Task<EventAccepted> InsertAsync(NewEvent e, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using (var insert = new NpgsqlCommand(InsertSql, conn))
        {
            var p = insert.Parameters;
            p.Add(new NpgsqlParameter<string>("source", e.Source));
            p.Add(new NpgsqlParameter("key", NpgsqlDbType.Text) { Value = (object?)e.DeliveryKey ?? DBNull.Value });
            p.Add(new NpgsqlParameter<long[]>("links", [.. e.LinkIds]));
            p.Add(new NpgsqlParameter<string>("type", e.Type));
            p.Add(new NpgsqlParameter("action", NpgsqlDbType.Text) { Value = (object?)e.Facts.Action ?? DBNull.Value });
            p.Add(new NpgsqlParameter<string>("state", e.State));
            p.Add(new NpgsqlParameter("facts", NpgsqlDbType.Jsonb) { Value = EventJson.Facts(e.Facts) });
            p.Add(new NpgsqlParameter("headers", NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(e.Headers) });
            p.Add(new NpgsqlParameter("body", NpgsqlDbType.Bytea) { Value = (object?)e.Body ?? DBNull.Value });
            p.Add(new NpgsqlParameter<int>("size", e.BodySize ?? e.Body?.Length ?? 0));
            p.Add(new NpgsqlParameter("effects", NpgsqlDbType.Jsonb) { Value = EventJson.Effects(e.Effects ?? []) });
            p.Add(new NpgsqlParameter("remote", NpgsqlDbType.Text) { Value = (object?)e.RemoteAddress ?? DBNull.Value });
            p.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            if (await insert.ExecuteScalarAsync(ct) is long id)
            {
                return new EventAccepted(id, false, e.State);
            }
        }
        if (e.DeliveryKey is null)
        {
            throw new InvalidOperationException("an event without a delivery key conflicted with a stored one");
        }
        // A second statement: its snapshot sees the row the conflicting insert committed.
        await using var existing = new NpgsqlCommand(ExistingSql, conn);
        existing.Parameters.Add(new NpgsqlParameter<string>("source", e.Source));
        existing.Parameters.Add(new NpgsqlParameter<string>("key", e.DeliveryKey));
        await using var reader = await existing.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            throw new InvalidOperationException($"the {e.Source} delivery '{e.DeliveryKey}' conflicted but cannot be read");
        }
        return new EventAccepted(reader.GetInt64(0), true, reader.GetString(1));
    }

    /// <summary>
    /// Adds to what an event caused after its processing (the concurrency duty superseding an older
    /// workflow on behalf of the event that made the newer one).
    /// </summary>
    public async Task AppendEffectsAsync(long eventId, IReadOnlyList<EventEffect> effects, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(AppendEffectsSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", eventId));
        cmd.Parameters.Add(new NpgsqlParameter("effects", NpgsqlDbType.Jsonb) { Value = EventJson.Effects(effects) });
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
