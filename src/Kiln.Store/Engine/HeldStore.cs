using Kiln.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Engine;

/// <summary>Which held workflows a list or an action covers (docs/concurrency.md).</summary>
/// <param name="Projects">Only these projects (those the caller owns); null for all.</param>
/// <param name="Ids">Only these workflows; null for any.</param>
/// <param name="Hidden">Leave out these projects (private ones the caller may not see); null for none.</param>
public sealed record HeldFilter(string? Project = null, string? Rule = null, long[]? Projects = null, long[]? Ids = null, long[]? Hidden = null);

/// <summary>
/// Workflows held by the storm guard: listed oldest first (the order they arrived, and the
/// order <c>--first N</c> approves), selected for approval or discard, and — for one with a
/// concurrency group — turned from held into queued on approval, so that the concurrency duty,
/// not the approval, decides when it runs. Releasing one without a group is
/// <see cref="WorkflowHolds.ReleaseAsync"/>; discarding one is an ordinary cancel.
/// </summary>
public sealed class HeldStore(NpgsqlDataSource dataSource)
{
    /// <summary>workflows_state_id (state, id) serves the order and the keyset.</summary>
    private const string SelectSql = """
        SELECT w.id, w.name, p.name, r.name, w.event_id, w.input_key, w.concurrency_group, w.total, w.created_at, w.project_id
        FROM workflows w JOIN projects p ON p.id = w.project_id LEFT JOIN trigger_rules r ON r.id = w.rule_id
        WHERE w.state = 'held' AND w.id > @after
          AND (@project::text IS NULL OR p.name = @project)
          AND (@rule::text IS NULL OR r.name = @rule)
          AND (@projects::bigint[] IS NULL OR w.project_id = ANY(@projects))
          AND (@ids::bigint[] IS NULL OR w.id = ANY(@ids))
          AND (@hidden::bigint[] IS NULL OR NOT (w.project_id = ANY(@hidden)))
        ORDER BY w.id
        LIMIT @limit
        """;

    /// <summary>
    /// Approval of a grouped workflow: held becomes queued (still gated), and the duty is woken.
    /// Only rows still held change, so a second approval, or one racing a discard, does nothing.
    /// </summary>
    private const string QueueSql = $"""
        WITH locked AS (
            SELECT id FROM workflows WHERE id = ANY(@ids) AND hold_state = 'held' AND concurrency_group IS NOT NULL
            ORDER BY id FOR NO KEY UPDATE
        ), queued AS (
            UPDATE workflows w SET hold_state = 'queued', state = CASE WHEN w.unfinished > 0 THEN 'queued' ELSE w.state END
            FROM locked WHERE w.id = locked.id
            RETURNING w.id
        ), woken AS (
            SELECT pg_notify('{ConcurrencyStore.Channel}', '') WHERE EXISTS (SELECT 1 FROM queued)
        )
        SELECT id FROM queued CROSS JOIN (SELECT count(*) FROM woken) n ORDER BY id
        """;

    /// <summary>Held workflows matching <paramref name="filter"/>, oldest first, after id <paramref name="after"/>; limit + 1 read for paging.</summary>
    public async Task<Page<HeldWorkflowView>> ListAsync(HeldFilter filter, long after, int limit, CancellationToken ct)
    {
        var rows = await SelectAsync(filter, after, limit + 1, ct);
        return Paging.Of([.. rows.Select(r => r.View)], limit, v => v.Id);
    }

    /// <summary>Up to <paramref name="limit"/> held workflows matching <paramref name="filter"/>, oldest first, with their project ids.</summary>
    public async Task<IReadOnlyList<(HeldWorkflowView View, long ProjectId)>> SelectAsync(HeldFilter filter, long after, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(SelectSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("after", after));
        cmd.Parameters.Add(new NpgsqlParameter("project", NpgsqlDbType.Text) { Value = (object?)filter.Project ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("rule", NpgsqlDbType.Text) { Value = (object?)filter.Rule ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("projects", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = (object?)filter.Projects ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = (object?)filter.Ids ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter("hidden", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = (object?)filter.Hidden ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit));
        var rows = new List<(HeldWorkflowView, long)>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            rows.Add((new HeldWorkflowView(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), Text(3),
                reader.IsDBNull(4) ? null : reader.GetInt64(4), Text(5), Text(6), reader.GetInt32(7), reader.GetFieldValue<DateTimeOffset>(8)),
                reader.GetInt64(9)));
        }
        return rows;
    }

    /// <summary>Turns those of <paramref name="ids"/> that are held and have a concurrency group into queued; returns them.</summary>
    public async Task<IReadOnlyList<long>> QueueAsync(IReadOnlyCollection<long> ids, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(QueueSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. ids.Distinct().Order()]));
        var queued = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            queued.Add(reader.GetInt64(0));
        }
        return queued;
    }
}
