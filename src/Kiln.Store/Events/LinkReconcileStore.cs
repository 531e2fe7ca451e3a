using Npgsql;

namespace Kiln.Store.Events;

/// <summary>
/// What a reconcile asks the database: which of the forge's deliveries Kiln stored, which listed
/// heads no event and no earlier reconcile has seen, and the heads to remember
/// (<c>repository_link_refs</c>, migration 0021).
/// </summary>
public sealed class LinkReconcileStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>A rejected delivery has no key, so a stored key means the delivery was accepted.</summary>
    private const string StoredDeliveriesSql = """
        SELECT delivery_key FROM events WHERE source = @source AND delivery_key = ANY(@keys)
        """;

    /// <summary>
    /// The listed (ref, sha) pairs that neither an event of this link (a delivery, or an earlier
    /// reconcile's event; served by events_forge_ref_sha) nor the heads the last reconcile saw
    /// account for.
    /// </summary>
    private const string UnseenSql = """
        SELECT t.ref, t.sha FROM unnest(@refs, @shas) AS t(ref, sha)
        WHERE NOT EXISTS (SELECT 1 FROM events e
                          WHERE (e.facts->>'ref') = t.ref AND (e.facts->>'sha') = t.sha
                            AND e.source IN ('github', 'gitlab', 'forgejo') AND e.state <> 'rejected'
                            AND e.source = @source AND e.link_ids @> ARRAY[@link])
          AND NOT EXISTS (SELECT 1 FROM repository_link_refs r WHERE r.link_id = @link AND r.ref = t.ref AND r.sha = t.sha)
        """;

    /// <summary>Remember the heads as listed: changed ones rewritten (unchanged ones not: no no-op writes), vanished refs forgotten.</summary>
    private const string SaveSql = """
        WITH listed AS (SELECT * FROM unnest(@refs, @shas) AS t(ref, sha)),
        saved AS (
            INSERT INTO repository_link_refs (link_id, ref, sha, seen_at)
            SELECT @link, ref, sha, @now FROM listed
            ON CONFLICT (link_id, ref) DO UPDATE SET sha = excluded.sha, seen_at = excluded.seen_at
                WHERE repository_link_refs.sha IS DISTINCT FROM excluded.sha
        )
        DELETE FROM repository_link_refs r WHERE r.link_id = @link AND NOT EXISTS (SELECT 1 FROM listed l WHERE l.ref = r.ref)
        """;

    private const string MarkSql = "UPDATE repository_links SET last_reconciled_at = @now WHERE id = @id";

    public async Task<HashSet<string>> StoredDeliveriesAsync(string source, IReadOnlyList<string> keys, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(StoredDeliveriesSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("source", source));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("keys", [.. keys]));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var stored = new HashSet<string>(StringComparer.Ordinal);
        while (await reader.ReadAsync(ct))
        {
            stored.Add(reader.GetString(0));
        }
        return stored;
    }

    public async Task<IReadOnlyList<(string Ref, string Sha)>> UnseenAsync(long linkId, string source, IReadOnlyList<(string Ref, string Sha)> heads, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(UnseenSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("link", linkId));
        cmd.Parameters.Add(new NpgsqlParameter<string>("source", source));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("refs", [.. heads.Select(h => h.Ref)]));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("shas", [.. heads.Select(h => h.Sha)]));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var unseen = new List<(string, string)>();
        while (await reader.ReadAsync(ct))
        {
            unseen.Add((reader.GetString(0), reader.GetString(1)));
        }
        return unseen;
    }

    public async Task SaveAsync(long linkId, IReadOnlyList<(string Ref, string Sha)> heads, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(SaveSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("link", linkId));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("refs", [.. heads.Select(h => h.Ref)]));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("shas", [.. heads.Select(h => h.Sha)]));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task MarkReconciledAsync(long linkId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(MarkSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", linkId));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
