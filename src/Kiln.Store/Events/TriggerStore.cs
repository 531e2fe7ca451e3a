using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core.Triggers;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Events;

/// <summary>
/// A project's trigger rules: every version of the file kept (trigger_sets), each rule upserted by
/// name (trigger_rules) so its id — and so its input keys and burst count — outlives edits of the
/// file; a rule the new version no longer has becomes inactive (its workflows keep pointing at it).
/// </summary>
public sealed class TriggerStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>Serialises two sets of the same project: the second waits, then takes the next version.</summary>
    private const string LockProjectSql = "SELECT id FROM projects WHERE name = @project FOR UPDATE";

    private const string NextVersionSql = "SELECT COALESCE(max(version), 0) + 1 FROM trigger_sets WHERE project_id = @project";

    private const string InsertSetSql = """
        INSERT INTO trigger_sets (project_id, version, document, created_by, created_at, rule_names) VALUES (@project, @version, @document, @by, @now, @names)
        """;

    /// <summary>
    /// By name: an existing rule keeps its id. A schedule rule starts counting slots from now
    /// (a new rule, or one whose schedule changed), so setting it never fires the slots it missed.
    /// </summary>
    private const string UpsertRuleSql = """
        INSERT INTO trigger_rules (project_id, name, version, active, definition, workflow_document, workflow_sha256, last_scheduled_at)
        VALUES (@project, @name, @version, true, @definition, @workflow, @sha, @now)
        ON CONFLICT (project_id, name) DO UPDATE SET
            version = EXCLUDED.version, active = true, definition = EXCLUDED.definition,
            workflow_document = EXCLUDED.workflow_document, workflow_sha256 = EXCLUDED.workflow_sha256,
            last_scheduled_at = CASE WHEN trigger_rules.definition ->> 'schedule' IS DISTINCT FROM EXCLUDED.definition ->> 'schedule'
                THEN EXCLUDED.last_scheduled_at ELSE trigger_rules.last_scheduled_at END
        """;

    private const string DeactivateSql = """
        UPDATE trigger_rules SET active = false WHERE project_id = @project AND active AND NOT (name = ANY(@names))
        """;

    private const string RuleColumns = """
        r.id, r.project_id, p.name, r.name, r.active, r.paused, r.definition::text, r.workflow_document, r.workflow_sha256, r.last_scheduled_at, r.version
        """;

    private const string CurrentSetSql = """
        SELECT s.version, s.document, s.created_at, u.name FROM trigger_sets s JOIN projects p ON p.id = s.project_id
        LEFT JOIN users u ON u.id = s.created_by
        WHERE p.name = @project ORDER BY s.version DESC LIMIT 1
        """;

    private const string ProjectRulesSql = $"""
        SELECT {RuleColumns} FROM trigger_rules r JOIN projects p ON p.id = r.project_id
        WHERE p.name = @project AND (r.active OR @all) ORDER BY r.active DESC, r.name
        """;

    /// <summary>The rules history lists, newest first, with the names each version had.</summary>
    private const string HistorySql = """
        SELECT s.version, s.created_at, u.name, s.rule_names FROM trigger_sets s JOIN projects p ON p.id = s.project_id
        LEFT JOIN users u ON u.id = s.created_by
        WHERE p.name = @project ORDER BY s.version DESC LIMIT 100
        """;

    /// <summary>Active rules that may take an event of this source; forge rules only of the projects whose links verified it.</summary>
    private const string RulesForSourceSql = $"""
        SELECT {RuleColumns} FROM trigger_rules r JOIN projects p ON p.id = r.project_id
        WHERE r.active AND (r.definition ->> 'source' = @source OR (@forge AND r.definition ->> 'source' = 'forge'))
          AND (@projects::bigint[] IS NULL OR r.project_id = ANY(@projects))
        ORDER BY r.project_id, r.id
        """;

    private const string RuleByNameSql = $"""
        SELECT {RuleColumns} FROM trigger_rules r JOIN projects p ON p.id = r.project_id WHERE p.name = @project AND r.name = @name
        """;

    private const string RuleByIdSql = $"""
        SELECT {RuleColumns} FROM trigger_rules r JOIN projects p ON p.id = r.project_id WHERE r.id = @id
        """;

    private const string ScheduleRulesSql = $"""
        SELECT {RuleColumns} FROM trigger_rules r JOIN projects p ON p.id = r.project_id
        WHERE r.active AND r.definition ->> 'source' = 'schedule' ORDER BY r.id
        """;

    /// <summary>Only forward: two leaders for a moment cannot move a schedule back.</summary>
    private const string MarkScheduledSql = """
        UPDATE trigger_rules SET last_scheduled_at = @slot WHERE id = @id AND (last_scheduled_at IS NULL OR last_scheduled_at < @slot)
        """;

    /// <summary>Stores a new version; returns it, or null when the project does not exist.</summary>
    public async Task<int?> SetAsync(string project, string text, IReadOnlyList<ValidatedRule> rules, long? createdBy, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        long projectId;
        await using (var lockProject = new NpgsqlCommand(LockProjectSql, conn, tx))
        {
            lockProject.Parameters.Add(new NpgsqlParameter<string>("project", project));
            if (await lockProject.ExecuteScalarAsync(ct) is not long id)
            {
                return null;
            }
            projectId = id;
        }
        int version;
        await using (var next = new NpgsqlCommand(NextVersionSql, conn, tx))
        {
            next.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            version = (int)(await next.ExecuteScalarAsync(ct))!;
        }
        await using (var insert = new NpgsqlCommand(InsertSetSql, conn, tx))
        {
            insert.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            insert.Parameters.Add(new NpgsqlParameter<int>("version", version));
            insert.Parameters.Add(new NpgsqlParameter<string>("document", text));
            insert.Parameters.Add(new NpgsqlParameter<long?>("by", createdBy));
            insert.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            insert.Parameters.Add(new NpgsqlParameter<string[]>("names", [.. rules.Select(r => r.Definition.Name!)]));
            await insert.ExecuteNonQueryAsync(ct);
        }
        var batch = new NpgsqlBatch(conn, tx);
        foreach (var rule in rules)
        {
            var cmd = new NpgsqlBatchCommand(UpsertRuleSql);
            cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", rule.Definition.Name!));
            cmd.Parameters.Add(new NpgsqlParameter<int>("version", version));
            cmd.Parameters.Add(new NpgsqlParameter("definition", NpgsqlDbType.Jsonb) { Value = JsonSerializer.Serialize(rule.Definition, TriggerRules.Json) });
            cmd.Parameters.Add(new NpgsqlParameter<string>("workflow", rule.WorkflowJson));
            cmd.Parameters.Add(new NpgsqlParameter<string>("sha", rule.WorkflowSha256));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            batch.BatchCommands.Add(cmd);
        }
        var deactivate = new NpgsqlBatchCommand(DeactivateSql);
        deactivate.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        deactivate.Parameters.Add(new NpgsqlParameter<string[]>("names", [.. rules.Select(r => r.Definition.Name!)]));
        batch.BatchCommands.Add(deactivate);
        await using (batch)
        {
            await batch.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return version;
    }

    public async Task<TriggerSetView?> CurrentAsync(string project, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(CurrentSetSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("project", project));
        int version;
        string text;
        DateTimeOffset at;
        string? by;
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct))
            {
                return null;
            }
            (version, text, at, by) = (reader.GetInt32(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2), reader.IsDBNull(3) ? null : reader.GetString(3));
        }
        var rules = await ReadRulesAsync(conn, ProjectRulesSql, p =>
        {
            p.Add(new NpgsqlParameter<string>("project", project));
            p.Add(new NpgsqlParameter<bool>("all", false));
        }, ct);
        return new TriggerSetView(project, version, text, at, by, [.. rules.Select(View)]);
    }

    public async Task<IReadOnlyList<TriggerVersionView>> HistoryAsync(string project, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(HistorySql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("project", project));
        var versions = new List<TriggerVersionView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            versions.Add(new(reader.GetInt32(0), reader.GetFieldValue<DateTimeOffset>(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetFieldValue<string[]>(3)));
        }
        return versions;
    }

    /// <summary>Rules of the given projects (null: any project) that take events of <paramref name="source"/>.</summary>
    public async Task<IReadOnlyList<StoredRule>> RulesForAsync(string source, long[]? projects, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        return await ReadRulesAsync(conn, RulesForSourceSql, p =>
        {
            p.Add(new NpgsqlParameter<string>("source", source));
            p.Add(new NpgsqlParameter<bool>("forge", EventSources.Forges.Contains(source)));
            p.Add(new NpgsqlParameter("projects", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = (object?)projects ?? DBNull.Value });
        }, ct);
    }

    public async Task<StoredRule?> RuleAsync(string project, string name, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        var rules = await ReadRulesAsync(conn, RuleByNameSql, p =>
        {
            p.Add(new NpgsqlParameter<string>("project", project));
            p.Add(new NpgsqlParameter<string>("name", name));
        }, ct);
        return rules.FirstOrDefault();
    }

    public async Task<StoredRule?> RuleAsync(long id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        var rules = await ReadRulesAsync(conn, RuleByIdSql, p => p.Add(new NpgsqlParameter<long>("id", id)), ct);
        return rules.FirstOrDefault();
    }

    public async Task<IReadOnlyList<StoredRule>> ScheduleRulesAsync(CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        return await ReadRulesAsync(conn, ScheduleRulesSql, _ => { }, ct);
    }

    public async Task MarkScheduledAsync(long ruleId, DateTimeOffset slot, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(MarkScheduledSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", ruleId));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("slot", slot));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static TriggerRuleView View(StoredRule r) => new(
        r.Id, r.Name, r.Definition.Source ?? "", r.Version, r.Active, r.Paused, r.Definition.Workflow ?? "", r.WorkflowSha256,
        r.BurstLimit, r.BurstWindowSeconds, r.Definition.Schedule, r.LastScheduledAt, r.Definition);

    private static async Task<List<StoredRule>> ReadRulesAsync(NpgsqlConnection conn, string sql, Action<NpgsqlParameterCollection> bind, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        bind(cmd.Parameters);
        var rules = new List<StoredRule>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rules.Add(new StoredRule(
                reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4), reader.GetBoolean(5),
                JsonSerializer.Deserialize<TriggerRuleDocument>(reader.GetString(6), TriggerRules.Json)!,
                reader.GetString(7), reader.GetString(8), reader.IsDBNull(9) ? null : reader.GetFieldValue<DateTimeOffset>(9))
            { Version = reader.GetInt32(10) });
        }
        return rules;
    }
}
