using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Api;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.Bench;

/// <summary>
/// <c>graph</c>: a 10,000-node / 30,000-edge workflow (each job needs 3 random jobs among the
/// 100 before it, a few need 4) submitted over HTTP: seconds until the server answers 201,
/// i.e. accepted, validated and stored. Then the same document through each server-side step
/// alone (JSON parse, planning, re-serialising the stored document, SubmissionStore) to show
/// which one the time is in.
/// </summary>
public static class GraphBench
{
    public const int Nodes = 10_000;
    public const int Edges = 30_000;

    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o)
    {
        var result = new BenchResult("graph");
        await using var kiln = await KilnUnderTest.StartAsync(cluster, "graph");
        var document = Generate(Nodes, Edges, seed: 42);
        var body = JsonSerializer.SerializeToUtf8Bytes(document, ApiJson.Options);
        result.Metric("nodes", Nodes);
        result.Metric("edges", document.Jobs!.Values.Sum(j => j.Needs?.Count ?? 0));
        result.Metric("document_bytes", body.Length);

        var runs = o.Quick ? 2 : 7;
        var http = new List<double>();
        long lastId = 0;
        for (var i = 0; i < runs; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await kiln.Client.PostAsync("/api/v1/workflows", content);
            var answer = await response.Content.ReadAsStringAsync();
            http.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"graph submission failed: {(int)response.StatusCode} {answer}");
            }
            lastId = JsonSerializer.Deserialize<SubmitWorkflowResponse>(answer, ApiJson.Options)!.Id;
        }
        await VerifyAsync(kiln.ConnectionString, lastId, result);
        result.Metric("http_submit_first_s", http[0]);
        result.Metric("http_submit_median_s", Median(http.Skip(1)));
        result.Metric("http_submit_best_s", http.Skip(1).Min());

        if (cluster.HasStatementStats)
        {
            await DbStats.ResetStatementsAsync(kiln.ConnectionString);
        }
        var planner = kiln.Service<WorkflowPlanner>();
        var store = kiln.Service<SubmissionStore>();
        var parse = new List<double>();
        var plan = new List<double>();
        var serialize = new List<double>();
        var stored = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var parsed = JsonSerializer.Deserialize<WorkflowDocument>(body, ApiJson.Options)!;
            parse.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
            t = Stopwatch.GetTimestamp();
            var (p, errors) = planner.Plan(parsed);
            plan.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
            if (p is null)
            {
                throw new InvalidOperationException(string.Join("; ", errors.Select(e => e.Message)));
            }
            t = Stopwatch.GetTimestamp();
            var json = JsonSerializer.Serialize(parsed, ApiJson.Options);
            serialize.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
            t = Stopwatch.GetTimestamp();
            await store.SubmitAsync(p, json, default);
            stored.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
        }
        if (cluster.HasStatementStats)
        {
            Console.WriteLine($"\n[graph] statements by time, per submission of {Nodes:N0} nodes (pg_stat_statements):");
            DbStats.Print(Console.Out, await DbStats.StatementsAsync(kiln.ConnectionString, 8), runs, "wf");
        }
        result.Metric("json_parse_median_s", Median(parse.Skip(1)));
        result.Metric("plan_median_s", Median(plan.Skip(1)));
        result.Metric("json_reserialize_median_s", Median(serialize.Skip(1)));
        result.Metric("submission_store_first_s", stored[0]);
        result.Metric("submission_store_median_s", Median(stored.Skip(1)));
        result.Notes.Add($"{runs} submissions each over HTTP and straight into SubmissionStore; the first of each is cold (JIT), medians exclude it; goal: <= 2 s");
        return result;
    }

    public static WorkflowDocument Generate(int nodes, int edges, int seed)
    {
        var rng = new Random(seed);
        var needs = new int[nodes];
        var assigned = 0;
        for (var i = 0; i < nodes; i++)
        {
            needs[i] = Math.Min(i, 3);
            assigned += needs[i];
        }
        for (var i = nodes - 1; assigned < edges && i >= 4; i--)
        {
            needs[i]++;
            assigned++;
        }
        var jobs = new Dictionary<string, JobDocument>(nodes);
        for (var i = 0; i < nodes; i++)
        {
            var window = Math.Min(i, 100);
            var picked = new HashSet<int>();
            while (picked.Count < needs[i])
            {
                picked.Add(i - 1 - rng.Next(window));
            }
            jobs[Name(i)] = new JobDocument { Run = $"build {i}", Needs = picked.Count == 0 ? null : [.. picked.Order().Select(Name)] };
        }
        return new WorkflowDocument { Name = "graph-10k", Jobs = jobs };
    }

    private static string Name(int i) => $"n{i:D5}";

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    private static async Task VerifyAsync(string connectionString, long workflowId, BenchResult result)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM work_requests WHERE workflow_id = @id),
                   (SELECT count(*) FROM dependencies d JOIN work_requests w ON w.id = d.work_request_id WHERE w.workflow_id = @id)
            """, conn);
        cmd.Parameters.AddWithValue("id", workflowId);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        if (r.GetInt64(0) != Nodes || r.GetInt64(1) != Edges)
        {
            throw new InvalidOperationException($"stored {r.GetInt64(0)} work requests and {r.GetInt64(1)} edges, expected {Nodes} and {Edges}");
        }
        result.Metric("stored_verified", 1);
    }
}
