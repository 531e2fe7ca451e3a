using System.Diagnostics;
using System.Globalization;
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
/// claim measured is whatever <see cref="ClaimStore"/> is at the time.
/// <para>
/// The claim's cost depends on how many rows are running (fair share counts them), so every
/// pass holds the running set at a stated level: <see cref="HeldRunning"/> rows (a farm with
/// 1,000 busy slots) for the headline passes — in-process one at a time, over HTTP one at a
/// time, W concurrent claimers, and the in-process pass again with the database's JIT off —
/// then <see cref="HighRunning"/> rows for one more in-process pass, so that the scaling with
/// the running set shows. The level is held by completing the oldest claimed rows through
/// <see cref="ReportStore"/> (batched, outside the timed section): running rows stay between
/// the level and the level + <see cref="CompletionBatch"/>. One claim runs under auto_explain
/// so its plan and buffer counts are printed.
/// </para>
/// </summary>
public static partial class ClaimBench
{
    /// <summary>Rows running during the headline passes: a farm with 1,000 busy slots.</summary>
    public const int HeldRunning = 1_000;

    /// <summary>Rows running during the last pass, to show how the claim scales with them.</summary>
    public const int HighRunning = 8_000;

    /// <summary>Claimed rows are completed this many at a time (one batched completion statement).</summary>
    public const int CompletionBatch = 25;

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
        result.Metric("running_rows", HeldRunning);
        result.Metric("high_running_rows", HighRunning);

        var claims = kiln.Service<ClaimStore>();
        var workers = kiln.Service<WorkerStore>();
        var running = new RunningSet(kiln.Service<ReportStore>(), HeldRunning);
        var identity = (await workers.AuthenticateAsync(await kiln.RegisterAsync("claimer", 1), default))!;
        var lease = TimeSpan.FromSeconds(600);
        var k = o.Quick ? 200 : 2_000;
        // A slow claim must not make --quick slow: each way stops after k claims or this long.
        var budget = TimeSpan.FromSeconds(o.Quick ? 2 : 30);

        // The running set is filled by the claim itself, so it is spread over the projects as
        // fair share spreads it: about one row each at 1,000, eight each at 8,000. A claim of
        // s slots takes about s / 4 rows from each of the 4 projects it looks at: 4 slots a
        // call give one row per project, as 1-slot claims would.
        await FillAsync(claims, identity, running, HeldRunning, 4, lease);
        for (var i = 0; i < 20; i++)
        {
            running.Add(identity.Id, await claims.ClaimAsync(identity, 1, lease, default));
            await running.HoldAsync();
        }
        if (cluster.HasStatementStats)
        {
            await DbStats.ResetStatementsAsync(kiln.ConnectionString);
        }

        var direct = await DirectPassAsync(claims, identity, running, lease, k, budget);
        direct.Latencies.Report(result, "direct_claim");
        result.Notes.Add(direct.Describe("direct_claim"));

        var client = await kiln.WorkerClientAsync("http-claimer", 1);
        long httpWorkerId;
        await using (var db = NpgsqlDataSource.Create(kiln.ConnectionString))
        await using (var cmd = db.CreateCommand("SELECT id FROM workers WHERE name = 'http-claimer'"))
        {
            httpWorkerId = (long)(await cmd.ExecuteScalarAsync())!;
        }
        var http = new Latencies();
        var level = running.StartPass();
        var since = Stopwatch.GetTimestamp();
        for (var i = 0; i < k && Stopwatch.GetElapsedTime(since) < budget; i++)
        {
            running.Observe();
            var t = Stopwatch.GetTimestamp();
            using var response = await client.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 0), ApiJson.Options);
            response.EnsureSuccessStatusCode();
            var claim = (await response.Content.ReadFromJsonAsync<ClaimResponse>(ApiJson.Options))!;
            http.Add(Stopwatch.GetElapsedTime(t));
            if (claim.Assignments.Count != 1)
            {
                throw new InvalidOperationException("the claim bench ran out of pending work");
            }
            running.Add(httpWorkerId, claim.Assignments);
            await running.HoldAsync();
        }
        http.Report(result, "http_claim");
        result.Notes.Add(new Pass(http, level, running.EndPass()).Describe("http_claim"));

        var concurrent = new Latencies();
        var identities = new List<WorkerIdentity>();
        for (var i = 0; i < o.Workers; i++)
        {
            identities.Add((await workers.AuthenticateAsync(await kiln.RegisterAsync($"c{i}", 1), default))!);
        }
        var left = k;
        level = running.StartPass();
        since = Stopwatch.GetTimestamp();
        await Task.WhenAll(identities.Select(w => Task.Run(async () =>
        {
            while (Interlocked.Decrement(ref left) >= 0 && Stopwatch.GetElapsedTime(since) < budget)
            {
                running.Observe();
                var t = Stopwatch.GetTimestamp();
                var got = await claims.ClaimAsync(w, 1, lease, default);
                concurrent.Add(Stopwatch.GetElapsedTime(t));
                running.Add(w.Id, got);
                await running.HoldAsync();
            }
        })));
        concurrent.Report(result, $"concurrent{o.Workers}_claim");
        result.Notes.Add(new Pass(concurrent, level, running.EndPass()).Describe($"concurrent{o.Workers}_claim") +
            " (the claims in flight and a completion batch running alongside add up to W − 1 more)");

        if (cluster.HasStatementStats)
        {
            await ReportStatementAsync(result, kiln.ConnectionString, "claim_statement");
        }
        var plan = await ExplainOneClaimAsync(cluster, kiln.ConnectionString, identity, running);
        if (plan is not null)
        {
            Console.WriteLine($"\n[claim] plan of one claim at this size, {running.Count:N0} rows running (auto_explain, ANALYZE, BUFFERS):");
            Console.WriteLine(plan);
        }

        // PostgreSQL JIT-compiles any statement whose estimated cost passes jit_above_cost. The
        // engine's connections have JIT off already (b18b3c7), so with the database's jit off
        // too this is the direct pass again, kept to compare with earlier runs.
        await using (var conn = new NpgsqlConnection(kiln.ConnectionString))
        {
            await conn.OpenAsync();
            await BenchCluster.Exec(conn, $"ALTER DATABASE {kiln.Database} SET jit = off");
        }
        kiln.FlushStatistics();
        var noJit = await DirectPassAsync(claims, identity, running, lease, k, budget);
        noJit.Latencies.Report(result, "jit_off_direct_claim");
        result.Notes.Add(noJit.Describe("jit_off_direct_claim"));

        // The same in-process pass with eight times as many rows running (filled 16 at a time,
        // four more per project a call, to keep --quick short).
        await FillAsync(claims, identity, running, HighRunning, 16, lease);
        running.Target = HighRunning;
        if (cluster.HasStatementStats)
        {
            await DbStats.ResetStatementsAsync(kiln.ConnectionString);
        }
        var high = await DirectPassAsync(claims, identity, running, lease, k, budget);
        high.Latencies.Report(result, "high_running_direct_claim");
        result.Notes.Add(high.Describe("high_running_direct_claim"));
        if (cluster.HasStatementStats)
        {
            await ReportStatementAsync(result, kiln.ConnectionString, "high_running_claim_statement");
        }
        await using (var conn = new NpgsqlConnection(kiln.ConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT count(*) FILTER (WHERE state = 'running'), count(*) FILTER (WHERE state = 'pending') FROM work_requests", conn);
            await using var r = await cmd.ExecuteReaderAsync();
            await r.ReadAsync();
            if (r.GetInt64(0) != running.Count)
            {
                throw new InvalidOperationException($"the bench tracked {running.Count} running rows, the database has {r.GetInt64(0)}");
            }
            // Every claim takes a pending row: fewer are left at the end than were seeded.
            result.Metric("pending_at_end", r.GetInt64(1));
        }

        result.Notes.Add($"up to {k} claims of 1 slot each way (at most {budget.TotalSeconds} s each); running rows held at {HeldRunning:N0} " +
                         $"(last pass {HighRunning:N0}) by completing the oldest {CompletionBatch} claimed at a time outside the timed section; goal: p99 <= 10 ms");
        return result;
    }

    private static async Task FillAsync(ClaimStore claims, WorkerIdentity identity, RunningSet running, int level, int slots, TimeSpan lease)
    {
        while (running.Count < level)
        {
            var got = await claims.ClaimAsync(identity, Math.Min(slots, level - running.Count), lease, default);
            if (got.Count == 0)
            {
                throw new InvalidOperationException("the claim bench ran out of pending work");
            }
            running.Add(identity.Id, got);
        }
    }

    /// <summary>Claims one row at a time in-process, timing only the claim.</summary>
    private static async Task<Pass> DirectPassAsync(ClaimStore claims, WorkerIdentity identity, RunningSet running, TimeSpan lease, int k, TimeSpan budget)
    {
        var latencies = new Latencies();
        var level = running.StartPass();
        var since = Stopwatch.GetTimestamp();
        for (var i = 0; i < k && Stopwatch.GetElapsedTime(since) < budget; i++)
        {
            running.Observe();
            var t = Stopwatch.GetTimestamp();
            var got = await claims.ClaimAsync(identity, 1, lease, default);
            latencies.Add(Stopwatch.GetElapsedTime(t));
            if (got.Count != 1)
            {
                throw new InvalidOperationException("the claim bench ran out of pending work");
            }
            running.Add(identity.Id, got);
            await running.HoldAsync();
        }
        return new Pass(latencies, level, running.EndPass());
    }

    private sealed record Pass(Latencies Latencies, int Target, (int Min, int Max) Running)
    {
        public string Describe(string name) => string.Create(CultureInfo.InvariantCulture,
            $"{name}: {Latencies.Count} claims with {Running.Min:N0}-{Running.Max:N0} rows running when each started (held at {Target:N0})");
    }

    /// <summary>
    /// The claimed rows still running, oldest first. Once <see cref="CompletionBatch"/> more
    /// than <see cref="Target"/> are running, the oldest are completed in one batch, as a
    /// farm's builds finish while others are claimed.
    /// </summary>
    private sealed class RunningSet(ReportStore reports, int target)
    {
        private readonly Queue<(long WorkerId, Assignment Assignment)> _held = new();
        private readonly Lock _gate = new();
        private int _min = int.MaxValue;
        private int _max;

        public int Target { get; set; } = target;

        public int Count
        {
            get
            {
                lock (_gate)
                {
                    return _held.Count;
                }
            }
        }

        public void Add(long workerId, IEnumerable<Assignment> assignments)
        {
            lock (_gate)
            {
                foreach (var a in assignments)
                {
                    _held.Enqueue((workerId, a));
                }
            }
        }

        public int StartPass()
        {
            lock (_gate)
            {
                (_min, _max) = (int.MaxValue, 0);
                return Target;
            }
        }

        /// <summary>Records how many rows are running as a timed claim starts.</summary>
        public void Observe()
        {
            lock (_gate)
            {
                _min = Math.Min(_min, _held.Count);
                _max = Math.Max(_max, _held.Count);
            }
        }

        public (int Min, int Max) EndPass()
        {
            lock (_gate)
            {
                return (_min, _max);
            }
        }

        public async Task HoldAsync()
        {
            List<SuccessReport> done;
            lock (_gate)
            {
                if (_held.Count < Target + CompletionBatch)
                {
                    return;
                }
                done = [];
                while (_held.Count > Target)
                {
                    var (worker, a) = _held.Dequeue();
                    done.Add(new SuccessReport(worker, a.WorkRequestId, a.LeaseToken, 0, null));
                }
            }
            var results = await reports.CompleteSucceededAsync(done, default);
            if (results.Any(r => r.Status != ReportStatus.Recorded))
            {
                throw new InvalidOperationException("a completion of the claim bench was not recorded");
            }
        }
    }

    /// <summary>
    /// The claim statement's figures from pg_stat_statements: server time, buffers, and how
    /// often it was planned (a cached generic plan is not planned again on each call).
    /// </summary>
    private static async Task ReportStatementAsync(BenchResult result, string connectionString, string prefix)
    {
        await using var conn = new NpgsqlConnection(connectionString + ";Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT calls, plans, total_plan_time, mean_exec_time, shared_blks_hit + shared_blks_read
            FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND query LIKE '%SKIP LOCKED%'
            ORDER BY calls DESC LIMIT 1
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        if (!await r.ReadAsync())
        {
            result.Notes.Add($"{prefix}: the claim statement was not found in pg_stat_statements");
            return;
        }
        var calls = r.GetInt64(0);
        result.Metric($"{prefix}_server_mean_ms", r.GetDouble(3));
        result.Metric($"{prefix}_shared_blocks_per_call", r.GetInt64(4) / (double)calls);
        result.Metric($"{prefix}_plans_per_call", r.GetInt64(1) / (double)calls);
        result.Metric($"{prefix}_plan_ms_per_call", r.GetDouble(2) / calls);
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
    private static async Task<string?> ExplainOneClaimAsync(BenchCluster cluster, string connectionString, WorkerIdentity identity, RunningSet running)
    {
        var options = "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on " +
                      "-c auto_explain.log_buffers=on -c auto_explain.log_nested_statements=on";
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Options = options, Pooling = false };
        await using var source = NpgsqlDataSource.Create(builder.ConnectionString);
        var store = new ClaimStore(source, TimeProvider.System);
        var logLength = File.Exists(cluster.LogFile) ? new FileInfo(cluster.LogFile).Length : 0;
        running.Add(identity.Id, await store.ClaimAsync(identity, 1, TimeSpan.FromSeconds(600), default));
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
