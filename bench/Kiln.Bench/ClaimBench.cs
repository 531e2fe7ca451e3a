using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Api;
using Kiln.Store.Engine;
using Kiln.Store.Workers;
using Npgsql;

namespace Kiln.Bench;

/// <summary>
/// <c>claim</c>: claim latency with 100,000 pending work requests spread over 1,000 projects
/// (one workflow per project, stored through SubmissionStore as a submission would be). The
/// claim measured is whatever <see cref="ClaimStore"/> is at the time: called in-process one
/// at a time, over HTTP one at a time, and by W concurrent claimers. Then one claim runs under
/// auto_explain so its plan and buffer counts are printed.
/// </summary>
public static partial class ClaimBench
{
    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o)
    {
        var result = new BenchResult("claim");
        await using var kiln = await KilnUnderTest.StartAsync(cluster, "claim");
        var seedStart = Stopwatch.GetTimestamp();
        await SeedAsync(kiln, o.Pending, o.Projects);
        result.Metric("seed_s", Stopwatch.GetElapsedTime(seedStart).TotalSeconds);
        await using (var conn = new NpgsqlConnection(kiln.ConnectionString))
        {
            await conn.OpenAsync();
            await BenchCluster.Exec(conn, "VACUUM ANALYZE work_requests");
        }
        result.Metric("pending", o.Pending);
        result.Metric("projects", o.Projects);

        var claims = kiln.Service<ClaimStore>();
        var workers = kiln.Service<WorkerStore>();
        var identity = (await workers.AuthenticateAsync(await kiln.RegisterAsync("claimer", 1), default))!;
        var lease = TimeSpan.FromSeconds(600);
        var k = o.Quick ? 200 : 2_000;
        // A slow claim must not make --quick slow: each way stops after k claims or this long.
        var budget = TimeSpan.FromSeconds(o.Quick ? 2 : 30);
        for (var i = 0; i < 20; i++)
        {
            await claims.ClaimAsync(identity, 1, lease, default);
        }
        if (cluster.HasStatementStats)
        {
            await DbStats.ResetStatementsAsync(kiln.ConnectionString);
        }

        var direct = new Latencies();
        var since = Stopwatch.GetTimestamp();
        for (var i = 0; i < k && Stopwatch.GetElapsedTime(since) < budget; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var got = await claims.ClaimAsync(identity, 1, lease, default);
            direct.Add(Stopwatch.GetElapsedTime(t));
            if (got.Count != 1)
            {
                throw new InvalidOperationException("the claim bench ran out of pending work");
            }
        }
        direct.Report(result, "direct_claim");

        var client = await kiln.WorkerClientAsync("http-claimer", 1);
        var http = new Latencies();
        since = Stopwatch.GetTimestamp();
        for (var i = 0; i < k && Stopwatch.GetElapsedTime(since) < budget; i++)
        {
            var t = Stopwatch.GetTimestamp();
            using var response = await client.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 0), ApiJson.Options);
            response.EnsureSuccessStatusCode();
            var claim = (await response.Content.ReadFromJsonAsync<ClaimResponse>(ApiJson.Options))!;
            http.Add(Stopwatch.GetElapsedTime(t));
            if (claim.Assignments.Count != 1)
            {
                throw new InvalidOperationException("the claim bench ran out of pending work");
            }
        }
        http.Report(result, "http_claim");

        var concurrent = new Latencies();
        var identities = new List<WorkerIdentity>();
        for (var i = 0; i < o.Workers; i++)
        {
            identities.Add((await workers.AuthenticateAsync(await kiln.RegisterAsync($"c{i}", 1), default))!);
        }
        var left = k;
        since = Stopwatch.GetTimestamp();
        await Task.WhenAll(identities.Select(w => Task.Run(async () =>
        {
            while (Interlocked.Decrement(ref left) >= 0 && Stopwatch.GetElapsedTime(since) < budget)
            {
                var t = Stopwatch.GetTimestamp();
                await claims.ClaimAsync(w, 1, lease, default);
                concurrent.Add(Stopwatch.GetElapsedTime(t));
            }
        })));
        concurrent.Report(result, $"concurrent{o.Workers}_claim");

        if (cluster.HasStatementStats)
        {
            var claimStatement = (await DbStats.StatementsAsync(kiln.ConnectionString, 30))
                .FirstOrDefault(s => s.Query.Contains("SKIP LOCKED", StringComparison.Ordinal));
            if (claimStatement is not null)
            {
                result.Metric("claim_statement_server_mean_ms", claimStatement.MeanMs);
                result.Metric("claim_statement_shared_blocks_per_call", (claimStatement.SharedHit + claimStatement.SharedRead) / (double)claimStatement.Calls);
            }
        }
        var plan = await ExplainOneClaimAsync(cluster, kiln.ConnectionString, identity);
        if (plan is not null)
        {
            Console.WriteLine("\n[claim] plan of one claim at this size (auto_explain, ANALYZE, BUFFERS):");
            Console.WriteLine(plan);
        }

        // PostgreSQL JIT-compiles any statement whose estimated cost passes jit_above_cost; at
        // this size the claim's estimate does, and compiling costs more than running it. The
        // same claims again with jit off (a database setting: no engine change) show how much.
        await using (var conn = new NpgsqlConnection(kiln.ConnectionString))
        {
            await conn.OpenAsync();
            await BenchCluster.Exec(conn, $"ALTER DATABASE {kiln.Database} SET jit = off");
        }
        kiln.FlushStatistics();
        var noJit = new Latencies();
        since = Stopwatch.GetTimestamp();
        for (var i = 0; i < k && Stopwatch.GetElapsedTime(since) < budget; i++)
        {
            var t = Stopwatch.GetTimestamp();
            await claims.ClaimAsync(identity, 1, lease, default);
            noJit.Add(Stopwatch.GetElapsedTime(t));
        }
        noJit.Report(result, "jit_off_direct_claim");
        result.Notes.Add($"up to {k} claims of 1 slot each way (at most {budget.TotalSeconds} s each); claimed rows stay running; goal: p99 <= 10 ms");
        return result;
    }

    private static async Task SeedAsync(KilnUnderTest kiln, int pending, int projects)
    {
        var planner = kiln.Service<WorkflowPlanner>();
        var store = kiln.Service<SubmissionStore>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            for (var p = Interlocked.Increment(ref next); p < projects; p = Interlocked.Increment(ref next))
            {
                var jobs = pending / projects + (p < pending % projects ? 1 : 0);
                var doc = KilnUnderTest.Independent(jobs, $"load-{p}") with { Project = $"project-{p}" };
                var (plan, errors) = planner.Plan(doc);
                if (plan is null)
                {
                    throw new InvalidOperationException(string.Join("; ", errors.Select(e => e.Message)));
                }
                await store.SubmitAsync(plan, "{}", default);
            }
        })));
    }

    /// <summary>Runs one claim on a session with auto_explain loaded and returns the plan it logged.</summary>
    private static async Task<string?> ExplainOneClaimAsync(BenchCluster cluster, string connectionString, WorkerIdentity identity)
    {
        var options = "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on " +
                      "-c auto_explain.log_buffers=on -c auto_explain.log_nested_statements=on";
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Options = options, Pooling = false };
        await using var source = NpgsqlDataSource.Create(builder.ConnectionString);
        var store = new ClaimStore(source, TimeProvider.System);
        var logLength = File.Exists(cluster.LogFile) ? new FileInfo(cluster.LogFile).Length : 0;
        await store.ClaimAsync(identity, 1, TimeSpan.FromSeconds(600), default);
        await Task.Delay(300);
        if (!File.Exists(cluster.LogFile))
        {
            return null;
        }
        await using var stream = new FileStream(cluster.LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(logLength, SeekOrigin.Begin);
        var log = await new StreamReader(stream).ReadToEndAsync();
        return PlanPattern().Matches(log).Select(m => m.Value.TrimEnd()).LastOrDefault(p => p.Contains("SKIP LOCKED", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"duration: [0-9.]+ ms\s+plan:[\s\S]*?(?=\n\d{4}-\d\d-\d\d |\z)")]
    private static partial Regex PlanPattern();
}
