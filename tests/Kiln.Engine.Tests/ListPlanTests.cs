using System.Text.Json;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// Copr's users deleted builds in bulk because listing them scanned everything. With 1M work
/// requests stored, every documented filter combination of the two lists must read an index
/// whose leading columns are the filter — first and deep pages, common, rare and empty matches
/// alike. The assertion is on what the plan read (buffers and rows), never on time: a walk of
/// the primary key reads thousands of buffers and removes up to a million rows by filter.
/// </summary>
public sealed class ListPlanTests(ListPlanTests.MillionRows data) : IClassFixture<ListPlanTests.MillionRows>
{
    private EngineFixture E => data.E;

    /// <summary>The generated database, shared by the tests of this class (generating it is the slow part).</summary>
    public sealed class MillionRows : IAsyncLifetime
    {
        public EngineFixture E { get; } = new();

        public async Task InitializeAsync()
        {
            await E.InitializeAsync();
            await using var cmd = E.DataSource.CreateCommand(GenerateSql);
            cmd.CommandTimeout = 600;
            await cmd.ExecuteNonQueryAsync();
        }

        public Task DisposeAsync() => E.DisposeAsync();
    }

    /// <summary>
    /// 100,000 workflows of 10 requests. Project bulk holds a third of everything, all pending
    /// (its workflows running); ci holds a third, never pending (the empty match of
    /// two common values); 400 small projects p0 … p399 share the last third round-robin, like
    /// ci never pending; late holds 20 running workflows of pending requests (rare); quiet
    /// holds nothing. The small projects are what defeats statistics: the MCV lists of
    /// (project, state) cannot cover 400 projects × states, so a combination missing from
    /// them (ci and pending) is estimated at thousands of rows, and a plan that depends on the
    /// estimate walks the primary key through all 1,000,000 rows. About 1 in 10,000 requests is in the publish queue, and about 1 in 10,000
    /// of ci's failed. Foreign-key triggers are off for the load (the rows are consistent by
    /// construction), and the indexes that back no constraint are dropped for it and rebuilt
    /// from their own definitions afterwards (a sorted build, much cheaper than a million
    /// inserts into each).
    /// </summary>
    private const string GenerateSql = """
        SET session_replication_role = replica;
        SET maintenance_work_mem = '256MB';
        CREATE TEMP TABLE saved_indexes AS
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename IN ('work_requests', 'workflows')
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname);
        DO $$ DECLARE r record; BEGIN
            FOR r IN SELECT indexname FROM saved_indexes LOOP EXECUTE format('DROP INDEX %I', r.indexname); END LOOP;
        END $$;
        INSERT INTO projects (id, name, created_at) OVERRIDING SYSTEM VALUE
        VALUES (101, 'ci', now()), (102, 'late', now()), (103, 'quiet', now()), (104, 'bulk', now());
        INSERT INTO projects (id, name, created_at) OVERRIDING SYSTEM VALUE
        SELECT 200 + k, 'p' || k, now() FROM generate_series(0, 399) k;
        INSERT INTO workflows (id, project_id, name, state, total, unfinished, document, created_at) OVERRIDING SYSTEM VALUE
        SELECT g, CASE WHEN g % 5000 = 0 THEN 102 WHEN g % 3 = 0 THEN 104 WHEN g % 3 = 1 THEN 101 ELSE 200 + (g / 3) % 400 END, 'w' || g,
               CASE WHEN g % 5000 = 0 OR g % 3 = 0 THEN 'running' WHEN g % 997 = 0 THEN 'failed' ELSE 'succeeded' END,
               10, 0, '{}', now()
        FROM generate_series(1, 100000) g;
        INSERT INTO work_requests (id, workflow_id, project_id, name, state, queue, tags, priority, run, env, outputs,
                                   timeout_seconds, max_attempts, retry_on_failure, backoff_seconds, unmet_deps, created_at)
        SELECT g, w, CASE WHEN w % 5000 = 0 THEN 102 WHEN w % 3 = 0 THEN 104 WHEN w % 3 = 1 THEN 101 ELSE 200 + (w / 3) % 400 END, 'j' || g,
               CASE WHEN w % 5000 = 0 OR w % 3 = 0 THEN 'pending' WHEN g % 9973 = 0 THEN 'failed' ELSE 'succeeded' END,
               CASE WHEN g % 10007 = 0 THEN 'publish' ELSE 'builds' END,
               '{}', 0, 'true', '{}', '{}', 60, 3, false, 10, 0, now()
        FROM generate_series(1, 1000000) g, LATERAL (SELECT (g - 1) / 10 + 1 AS w) x;
        DO $$ DECLARE r record; BEGIN
            FOR r IN SELECT indexdef FROM saved_indexes LOOP EXECUTE r.indexdef; END LOOP;
        END $$;
        SET session_replication_role = DEFAULT;
        ANALYZE projects, workflows, work_requests;
        """;

    /// <summary>
    /// A page's worth: a list asks for 51 rows, and without a state filter reads at most 51
    /// ids from each of the seven states' index ranges, then the page's 51 rows by primary
    /// key; each range costs an index descent and each row a lookup. A walk of the primary
    /// key at 1M rows reads ~2,700 index pages alone.
    /// </summary>
    private const long MaxBuffers = 400;
    private const long MaxRowsRead = 8 * 51;

    [Fact]
    public async Task Every_work_request_filter_combination_reads_an_index_of_its_filter_at_a_million_rows()
    {
        // Each shape with a common, a rare and an empty match where the data has them.
        var filters = new List<WorkRequestFilter>();
        long?[] workflows = [null, 3, 5000];
        string?[] states = [null, "pending", "failed"];
        string?[] queues = [null, "publish", "nowhere"];
        string?[] projects = [null, "ci", "late", "quiet", "p7"];
        foreach (var w in workflows)
        {
            foreach (var s in states)
            {
                foreach (var q in queues)
                {
                    foreach (var p in projects)
                    {
                        filters.Add(new WorkRequestFilter(w, s, q, p));
                    }
                }
            }
        }
        await using var conn = await E.DataSource.OpenConnectionAsync();
        foreach (var filter in filters)
        {
            foreach (var after in new long?[] { null, 600_000 })
            {
                var what = $"{filter} after {after}";
                var projectId = filter.Project is null ? null : await QueryStore.ProjectIdAsync(conn, filter.Project, default);
                if (filter.Project is not null && projectId is null)
                {
                    Assert.Empty((await E.Queries.ListWorkRequestsAsync(filter, after, 50, default)).Items);
                    continue;
                }
                await using var cmd = QueryStore.ListWorkRequestsCommand(filter, projectId, after, 51);
                AssertIndexBacked(await ExplainAsync(conn, cmd), what, "work_requests");
                var page = await E.Queries.ListWorkRequestsAsync(filter, after, 50, default);
                Assert.Equal(ExpectedWorkRequestIds(filter, after), [.. page.Items.Select(i => i.Id)]);
            }
        }
    }

    [Fact]
    public async Task Every_workflow_filter_combination_reads_an_index_of_its_filter_at_a_million_rows()
    {
        await using var conn = await E.DataSource.OpenConnectionAsync();
        foreach (var project in new[] { null, "ci", "late", "quiet", "bulk", "p7" })
        {
            foreach (var state in new[] { null, "succeeded", "failed", "running", "cancelled" })
            {
                foreach (var after in new long?[] { null, 40_000 })
                {
                    var what = $"project {project} state {state} after {after}";
                    var projectId = project is null ? null : await QueryStore.ProjectIdAsync(conn, project, default);
                    if (project is not null && projectId is null)
                    {
                        Assert.Empty((await E.Queries.ListWorkflowsAsync(project, state, after, 50, default)).Items);
                        continue;
                    }
                    await using var cmd = QueryStore.ListWorkflowsCommand(projectId, state, after, 51);
                    AssertIndexBacked(await ExplainAsync(conn, cmd), what, "workflows");
                    var page = await E.Queries.ListWorkflowsAsync(project, state, after, 50, default);
                    Assert.Equal(ExpectedWorkflowIds(project, state, after), [.. page.Items.Select(i => i.Id)]);
                }
            }
        }
    }

    /// <summary>The plan the list runs: in a transaction with the settings its batch sends first.</summary>
    private static async Task<JsonElement> ExplainAsync(NpgsqlConnection conn, NpgsqlCommand cmd)
    {
        await using var tx = await conn.BeginTransactionAsync();
        await using (var settings = new NpgsqlCommand(QueryStore.ListSettingsSql, conn, tx))
        {
            await settings.ExecuteNonQueryAsync();
        }
        cmd.CommandText = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + cmd.CommandText;
        cmd.Connection = conn;
        cmd.Transaction = tx;
        var json = (string)(await cmd.ExecuteScalarAsync())!;
        await tx.RollbackAsync();
        return JsonDocument.Parse(json).RootElement[0].GetProperty("Plan").Clone();
    }

    /// <summary>
    /// No sequential scan of the listed table, few buffers and a page's worth of its rows read
    /// (rows returned by every scan of it plus rows its filter threw away), for common, rare
    /// and empty matches alike: a walk of the primary key that filters would read up to the
    /// whole table for a rare or empty match.
    /// </summary>
    private static void AssertIndexBacked(JsonElement plan, string what, string table)
    {
        var nodes = Flatten(plan).ToList();
        Assert.False(nodes.Any(n => n.GetProperty("Node Type").GetString() == "Seq Scan"
            && n.TryGetProperty("Relation Name", out var r) && r.GetString() == table), $"{what}: the plan scans {table}:\n{plan}");
        var buffers = plan.GetProperty("Shared Hit Blocks").GetInt64() + plan.GetProperty("Shared Read Blocks").GetInt64();
        Assert.True(buffers <= MaxBuffers, $"{what}: {buffers} buffers read:\n{plan}");
        var rowsRead = nodes
            .Where(n => n.TryGetProperty("Relation Name", out var r) && r.GetString() == table)
            .Sum(n => (n.GetProperty("Actual Rows").GetDouble() + Removed(n)) * n.GetProperty("Actual Loops").GetDouble());
        Assert.True(rowsRead <= MaxRowsRead, $"{what}: {rowsRead} rows read:\n{plan}");
    }

    private static double Removed(JsonElement n) =>
        n.TryGetProperty("Rows Removed by Filter", out var r) ? r.GetDouble() : 0;

    private static IEnumerable<JsonElement> Flatten(JsonElement node)
    {
        yield return node;
        if (node.TryGetProperty("Plans", out var children))
        {
            foreach (var child in children.EnumerateArray())
            {
                foreach (var n in Flatten(child))
                {
                    yield return n;
                }
            }
        }
    }

    /// <summary>The same page computed from the generator's own rules (see <see cref="GenerateSql"/>).</summary>
    private static List<long> ExpectedWorkRequestIds(WorkRequestFilter f, long? after)
    {
        var ids = new List<long>();
        for (var g = (after ?? 0) + 1; g <= 1_000_000 && ids.Count < 50; g++)
        {
            var w = (g - 1) / 10 + 1;
            var project = ProjectOf(w);
            var state = project is "late" or "bulk" ? "pending" : g % 9973 == 0 ? "failed" : "succeeded";
            var queue = g % 10007 == 0 ? "publish" : "builds";
            if ((f.WorkflowId is null || f.WorkflowId == w) && (f.State is null || f.State == state)
                && (f.Queue is null || f.Queue == queue) && (f.Project is null || f.Project == project))
            {
                ids.Add(g);
            }
        }
        return ids;
    }

    private static string ProjectOf(long workflow) =>
        workflow % 5000 == 0 ? "late" : workflow % 3 == 0 ? "bulk" : workflow % 3 == 1 ? "ci" : $"p{workflow / 3 % 400}";

    private static List<long> ExpectedWorkflowIds(string? project, string? state, long? after)
    {
        var ids = new List<long>();
        for (var g = Math.Min(after.HasValue ? after.Value - 1 : 100_000, 100_000); g >= 1 && ids.Count < 50; g--)
        {
            var p = ProjectOf(g);
            var s = p is "late" or "bulk" ? "running" : g % 997 == 0 ? "failed" : "succeeded";
            if ((project is null || project == p) && (state is null || state == s))
            {
                ids.Add(g);
            }
        }
        return ids;
    }
}
