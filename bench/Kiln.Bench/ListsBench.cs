using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace Kiln.Bench;

/// <summary>
/// <c>lists</c>: latency of <c>GET /api/v1/work-requests</c> and <c>GET /api/v1/workflows</c>
/// over real HTTP with 1,000,000 work requests stored (quick: 100,000), for every documented
/// filter combination with common, rare and empty matches, first page and a deep page
/// (<see cref="ListsData"/>). The goal (issue 9, item 13) is p99 ≤ 50 ms for each.
/// <para>
/// Requests go one at a time from one client, round-robin over every (filter, page) pair, so
/// that a noisy second on the shared machine lands on many pairs once instead of on one pair
/// many times. Each pair is requested once unmeasured first (connection, JIT, plan caches).
/// </para>
/// </summary>
public static class ListsBench
{
    public const double GoalP99Ms = 50;

    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o)
    {
        var result = new BenchResult("lists");
        var data = new ListsData(o.Quick ? 100_000 : 1_000_000);
        var rounds = o.Quick ? 30 : 100;
        await using var kiln = await KilnUnderTest.StartAsync(cluster, "lists");

        var seed = Stopwatch.GetTimestamp();
        await using (var conn = new NpgsqlConnection(kiln.ConnectionString))
        {
            await conn.OpenAsync();
            await using (var cmd = new NpgsqlCommand(data.GenerateSql(), conn) { CommandTimeout = 1800 })
            {
                await cmd.ExecuteNonQueryAsync();
            }
            // A farm's table has been vacuumed and analyzed by autovacuum long before anyone lists it.
            await using (var cmd = new NpgsqlCommand("VACUUM (ANALYZE) projects, workflows, work_requests", conn) { CommandTimeout = 1800 })
            {
                await cmd.ExecuteNonQueryAsync();
            }
        }
        result.Metric("seed_s", Stopwatch.GetElapsedTime(seed).TotalSeconds);
        result.Metric("work_requests", data.Total);
        result.Metric("workflows", data.Workflows);
        result.Metric("requests_per_combination", rounds);
        result.Metric("goal_p99_ms", GoalP99Ms);

        var pairs = new List<(ListsData.Case Case, string Page, string Url)>();
        foreach (var c in data.Cases())
        {
            var sep = c.Query.Length == 0 ? "" : "&";
            pairs.Add((c, "first", $"/api/v1/{c.List}?{c.Query}"));
            pairs.Add((c, "deep", $"/api/v1/{c.List}?{c.Query}{sep}after={c.DeepAfter.ToString(CultureInfo.InvariantCulture)}"));
        }
        var latencies = pairs.Select(_ => new Latencies()).ToArray();
        var rows = new int[pairs.Count];
        for (var round = -1; round < rounds; round++)
        {
            for (var i = 0; i < pairs.Count; i++)
            {
                var t = Stopwatch.GetTimestamp();
                using var response = await kiln.Client.GetAsync(pairs[i].Url);
                var body = await response.Content.ReadAsStringAsync();
                var elapsed = Stopwatch.GetElapsedTime(t);
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"GET {pairs[i].Url}: {(int)response.StatusCode} {body}");
                }
                if (round < 0)
                {
                    using var json = JsonDocument.Parse(body);
                    rows[i] = json.RootElement.GetProperty("items").GetArrayLength();
                }
                else
                {
                    latencies[i].Add(elapsed);
                }
            }
        }

        Console.WriteLine($"\n[lists] {data.Total:N0} work requests, {data.Workflows:N0} workflows; {rounds} requests per row, default limit 50");
        Console.WriteLine($"  {"list",-14} {"filter",-52} {"page",-5} {"rows",4} {"p50 ms",7} {"p99 ms",7}");
        var worst = (P99: 0.0, Name: "");
        var over = 0;
        for (var i = 0; i < pairs.Count; i++)
        {
            var (c, page, _) = pairs[i];
            var p50 = latencies[i].Percentile(50);
            var p99 = latencies[i].Percentile(99);
            var name = $"{(c.List == "workflows" ? "wf" : "wr")}:{(c.Query.Length == 0 ? "(none)" : c.Query)}:{page}";
            result.Metric($"{name}:rows", rows[i]);
            result.Metric($"{name}:p50_ms", p50);
            result.Metric($"{name}:p99_ms", p99);
            if (p99 > worst.P99)
            {
                worst = (p99, name);
            }
            if (p99 > GoalP99Ms)
            {
                over++;
            }
            var filter = c.Query.Length == 0 ? "(none)" : c.Query;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {c.List,-14} {filter,-52} {page,-5} {rows[i],4} {p50,7:F1} {p99,7:F1}{(p99 > GoalP99Ms ? "  > goal" : "")}"));
        }
        result.Metric("combinations", pairs.Count);
        result.Metric("combinations_over_goal", over);
        result.Metric("worst_p99_ms", worst.P99);
        result.Metric("worst_p50_ms", latencies.Max(l => l.Percentile(50)));
        result.Notes.Add($"worst p99: {worst.Name} {worst.P99.ToString("F1", CultureInfo.InvariantCulture)} ms (goal <= {GoalP99Ms} ms)");

        await PagesBench.RunAsync(kiln, data, result, o.Quick ? 10 : 50);

        var slowest = Enumerable.Range(0, pairs.Count).OrderByDescending(i => latencies[i].Percentile(50)).Take(ExplainedPairs).ToList();
        await ExplainAsync(cluster, kiln, [.. slowest.Select(i => pairs[i].Url)]);
        return result;
    }

    /// <summary>The slowest pairs by p50 whose server-side plans are printed.</summary>
    private const int ExplainedPairs = 3;

    /// <summary>
    /// Requests each URL once more with auto_explain (ANALYZE, BUFFERS) loaded into the
    /// server's sessions and prints what PostgreSQL logged: the plans the server really ran.
    /// </summary>
    private static async Task ExplainAsync(BenchCluster cluster, KilnUnderTest kiln, IReadOnlyList<string> urls)
    {
        await using (var conn = new NpgsqlConnection(kiln.ConnectionString))
        {
            await conn.OpenAsync();
            foreach (var setting in new[]
            {
                "session_preload_libraries = 'auto_explain'", "auto_explain.log_min_duration = 0", "auto_explain.log_analyze = on",
                "auto_explain.log_buffers = on", "auto_explain.log_timing = on",
            })
            {
                await BenchCluster.Exec(conn, $"ALTER DATABASE {kiln.Database} SET {setting}");
            }
        }
        kiln.FlushStatistics();
        foreach (var url in urls)
        {
            var logLength = File.Exists(cluster.LogFile) ? new FileInfo(cluster.LogFile).Length : 0;
            using (var response = await kiln.Client.GetAsync(url))
            {
                response.EnsureSuccessStatusCode();
            }
            await Task.Delay(300);
            await using var log = new FileStream(cluster.LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            log.Seek(logLength, SeekOrigin.Begin);
            var text = await new StreamReader(log).ReadToEndAsync();
            Console.WriteLine($"\n[lists] plans of GET {url} (auto_explain, ANALYZE, BUFFERS):");
            Console.WriteLine(string.Join('\n', text.Split('\n').Where(l => !l.Contains("set_config", StringComparison.Ordinal))));
        }
    }
}
