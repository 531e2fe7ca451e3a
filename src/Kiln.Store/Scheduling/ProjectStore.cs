using Kiln.Contracts;
using Kiln.Core;
using Npgsql;
using NpgsqlTypes;
using Kiln.Store.Engine;
using Kiln.Store.Identity;

namespace Kiln.Store.Scheduling;

/// <summary>Projects (weights, base priorities, caps) and operator re-prioritisation of waiting work.</summary>
public sealed class ProjectStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>
    /// The load of a project is counted from the partial indexes of running and pending rows, and
    /// stops at <see cref="ProjectView.CountCap"/> + 1: a page of 500 projects with a million
    /// pending rows each reads at most 500 × 10,001 index entries, not every pending row of the
    /// farm. One more than the cap says "more than the cap" (reported as capped).
    /// </summary>
    private static readonly string ViewColumns = $"""
        p.id, p.name, p.weight, p.base_priority, p.max_running,
        (SELECT count(*) FROM (SELECT 1 FROM work_requests w WHERE w.project_id = p.id AND w.state = 'running' LIMIT {ProjectView.CountCap + 1}) r)::int,
        (SELECT count(*) FROM (SELECT 1 FROM work_requests w WHERE w.project_id = p.id AND w.state = 'pending' LIMIT {ProjectView.CountCap + 1}) q)::int,
        p.created_at, p.visibility, p.description
        """;

    private static readonly string ListSql = $"""
        SELECT {ViewColumns} FROM projects p
        WHERE (@after IS NULL OR p.id > @after) AND NOT (p.id = ANY (@hidden))
        ORDER BY p.id LIMIT @limit
        """;

    private static readonly string GetSql = $"SELECT {ViewColumns} FROM projects p WHERE p.name = @name";

    private const string UpsertSql = """
        INSERT INTO projects (name, weight, base_priority, max_running, created_at)
        VALUES (@name, @weight, @base_priority, @max_running, @now)
        ON CONFLICT (name) DO UPDATE SET
            weight = excluded.weight, base_priority = excluded.base_priority, max_running = excluded.max_running
        -- no write when nothing changes
        WHERE (projects.weight, projects.base_priority, projects.max_running)
              IS DISTINCT FROM (excluded.weight, excluded.base_priority, excluded.max_running)
        """;

    /// <summary>Moves the aged rank by the same amount as the priority, so relative aging is kept.</summary>
    private const string SetPrioritySql = """
        UPDATE work_requests SET priority = @priority, claim_rank = claim_rank + (@priority - priority)
        WHERE id = @id AND state IN ('pending', 'blocked') AND priority IS DISTINCT FROM @priority
        """;

    /// <summary>
    /// Moves every waiting row of the workflow. The rows are locked first in ascending id
    /// order (<see cref="Transitions.LockSql"/>), so this multi-row write cannot deadlock with
    /// a completion or a cancel locking some of the same rows; then updated.
    /// </summary>
    private static readonly string AdjustWorkflowSql = $"""
        WITH locked AS MATERIALIZED (
            {Transitions.LockSql("w.workflow_id = @workflow AND w.state IN ('pending', 'blocked') AND @adjust <> 0")}
        )
        UPDATE work_requests SET priority = priority + @adjust, claim_rank = claim_rank + @adjust
        WHERE id = ANY(ARRAY(SELECT id FROM locked)) AND state IN ('pending', 'blocked')
        """;

    /// <param name="hidden">Private projects the caller may not see (left out); null: none.</param>
    public async Task<Page<ProjectView>> ListAsync(long? after, int limit, CancellationToken ct, long[]? hidden = null)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]>("hidden", hidden ?? []));
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<ProjectView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(Read(reader));
        }
        return Paging.Of(items, limit, v => v.Id);
    }

    public async Task<ProjectView?> GetAsync(string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(GetSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    /// <param name="audit">Who changes it, for the audit log: a change (not a repeat of the current values) records
    /// <c>project.policy</c> in the same transaction.</param>
    public async Task<ProjectView> PutAsync(string name, ProjectSettings settings, CancellationToken ct, (AuditStore Store, AuditActor Actor)? audit = null)
    {
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        await using (var transaction = await connection.BeginTransactionAsync(ct))
        await using (var cmd = new NpgsqlCommand(UpsertSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
            cmd.Parameters.Add(new NpgsqlParameter<int>("weight", settings.Weight ?? 1));
            cmd.Parameters.Add(new NpgsqlParameter<int>("base_priority", settings.BasePriority ?? 0));
            cmd.Parameters.Add(new NpgsqlParameter("max_running", NpgsqlDbType.Integer) { Value = (object?)settings.MaxRunning ?? DBNull.Value });
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            if (await cmd.ExecuteNonQueryAsync(ct) > 0 && audit is var (store, actor))
            {
                await store.RecordAsync(actor, "project.policy", $"project:{name}", settings, ct, connection);
            }
            await transaction.CommitAsync(ct);
        }
        return (await GetAsync(name, ct))!;
    }

    /// <returns>Rows changed: 0 when the work request is not waiting (or already has that priority).</returns>
    public async Task<int> SetPriorityAsync(long workRequestId, int priority, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(SetPrioritySql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter<int>("priority", priority));
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<int> AdjustWorkflowAsync(long workflowId, int adjust, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(AdjustWorkflowSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        cmd.Parameters.Add(new NpgsqlParameter<int>("adjust", adjust));
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    private static ProjectView Read(NpgsqlDataReader r)
    {
        var running = r.GetInt32(5);
        var pending = r.GetInt32(6);
        return new(
            r.GetInt64(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3), r.IsDBNull(4) ? null : r.GetInt32(4),
            Math.Min(running, ProjectView.CountCap), Math.Min(pending, ProjectView.CountCap), r.GetFieldValue<DateTimeOffset>(7),
            running > ProjectView.CountCap || pending > ProjectView.CountCap, r.GetString(8), r.GetString(9));
    }

    /// <summary>Validates settings; returns the errors by field.</summary>
    public static List<ValidationError> Validate(ProjectSettings settings)
    {
        var errors = new List<ValidationError>();
        if (settings.Weight is < 1 or > 1000)
        {
            errors.Add(new("weight", "must be 1 to 1000"));
        }
        if (settings.BasePriority is < -1000 or > 1000)
        {
            errors.Add(new("basePriority", "must be between -1000 and 1000"));
        }
        if (settings.MaxRunning is < 0 or > 100_000)
        {
            errors.Add(new("maxRunning", "must be 0 to 100000, or null for no cap"));
        }
        return errors;
    }
}
