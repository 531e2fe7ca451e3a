using Npgsql;

namespace Kiln.Store.Engine;

/// <summary>
/// The statements behind concurrency groups (docs/concurrency.md): the live members of groups
/// that have a queued workflow, marking the older queued ones superseded, and the wake-up the
/// submission sends. The decisions are the duty's (Kiln.Server's ConcurrencyDuty); cancels go
/// through <see cref="GraphActions"/>, releases through <see cref="WorkflowHolds"/>.
/// Only workflow rows are locked here (ascending id, nothing else held), so the protocol of
/// <see cref="Transitions"/> — work requests first, workflows last — cannot be crossed.
/// </summary>
public sealed class ConcurrencyStore(NpgsqlDataSource dataSource)
{
    /// <summary>The channel a grouped submission (or an approval that queues) notifies; the payload is empty.</summary>
    public const string Channel = "kiln_concurrency";

    /// <summary>
    /// Groups with a queued workflow (only those need a decision), then all their running and
    /// queued members, oldest first. Both read the partial index workflows_concurrency, which
    /// holds only live members of groups, so the cost follows the groups in use, not the table.
    /// </summary>
    private const string MembersSql = """
        WITH groups AS (
            SELECT DISTINCT project_id, concurrency_group FROM workflows
            WHERE concurrency_group IS NOT NULL AND state = 'queued'
              AND (project_id, concurrency_group) > (@after_project, @after_group)
            ORDER BY project_id, concurrency_group
            LIMIT @max
        )
        SELECT w.id, w.project_id, p.name, w.concurrency_group, w.state, w.cancel_in_progress, w.event_id, w.superseded_by
        FROM groups g
        JOIN workflows w ON w.project_id = g.project_id AND w.concurrency_group = g.concurrency_group
            AND w.concurrency_group IS NOT NULL AND w.state IN ('running', 'queued')
        JOIN projects p ON p.id = w.project_id
        ORDER BY w.project_id, w.concurrency_group, w.id
        """;

    /// <summary>
    /// Only a workflow still queued and not yet replaced is marked: one released a moment ago
    /// (running now) is not superseded after the fact. Rows locked in ascending id order.
    /// </summary>
    private const string SupersedeSql = """
        WITH locked AS (
            SELECT id FROM workflows WHERE id = ANY(@ids) AND state = 'queued' AND superseded_by IS NULL
            ORDER BY id FOR NO KEY UPDATE
        )
        UPDATE workflows w SET superseded_by = @by FROM locked WHERE w.id = locked.id
        RETURNING w.id
        """;

    /// <summary>
    /// A finished workflow holds nothing: the hold of a superseded or discarded one is cleared
    /// once its cancel has finished it (its state is then superseded or cancelled, by the counters).
    /// </summary>
    private const string ClearHoldsSql = """
        WITH locked AS (
            SELECT id FROM workflows WHERE id = ANY(@ids) AND hold_state IS NOT NULL AND unfinished = 0
            ORDER BY id FOR NO KEY UPDATE
        )
        UPDATE workflows w SET hold_state = NULL FROM locked WHERE w.id = locked.id
        """;

    private const string NotifySql = $"SELECT pg_notify('{Channel}', '')";

    /// <summary>
    /// The running and queued members of at most <paramref name="maxGroups"/> groups that have a
    /// queued workflow, those after (<paramref name="afterProject"/>, <paramref name="afterGroup"/>)
    /// in (project, group) order: a pass pages through every group, however many wait.
    /// </summary>
    public async Task<IReadOnlyList<ConcurrencyMember>> MembersAsync(int maxGroups, long afterProject, string afterGroup, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(MembersSql);
        cmd.Parameters.Add(new NpgsqlParameter<int>("max", maxGroups));
        cmd.Parameters.Add(new NpgsqlParameter<long>("after_project", afterProject));
        cmd.Parameters.Add(new NpgsqlParameter<string>("after_group", afterGroup));
        var members = new List<ConcurrencyMember>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            members.Add(new ConcurrencyMember(reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.GetBoolean(5), reader.IsDBNull(6) ? null : reader.GetInt64(6), reader.IsDBNull(7) ? null : reader.GetInt64(7)));
        }
        return members;
    }

    /// <summary>Marks <paramref name="ids"/> replaced by <paramref name="by"/>; returns those marked now.</summary>
    public async Task<IReadOnlyList<long>> SupersedeAsync(IReadOnlyCollection<long> ids, long by, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(SupersedeSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. ids]));
        cmd.Parameters.Add(new NpgsqlParameter<long>("by", by));
        var marked = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            marked.Add(reader.GetInt64(0));
        }
        return marked;
    }

    /// <summary>Clears the hold of those of <paramref name="ids"/> that have finished.</summary>
    public async Task ClearHoldsAsync(IReadOnlyCollection<long> ids, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ClearHoldsSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. ids]));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Wakes the concurrency duty on whichever replica leads.</summary>
    public async Task NotifyAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(NotifySql);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
