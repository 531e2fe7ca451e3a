using System.Diagnostics;
using Kiln.Store.Engine;
using Kiln.Store.Workers;

namespace Kiln.Bench;

/// <summary>
/// <c>lifecycle</c>: N no-op work requests through a real server and PostgreSQL over real HTTP,
/// drained by W simulated workers. Two shapes: <b>bulk</b> (one workflow of N independent jobs,
/// submitted first) and <b>stream</b> (N single-job workflows submitted by two clients while
/// the workers drain). Workers follow <see cref="BenchOptions.Protocol"/> (by default the worker's
/// own: 1 slot, 15 prefetched, batched reports). Then variants that isolate costs: the unbatched
/// protocol (one claim and one report request per task), 64 per claim, no HTTP (the stores called
/// directly), commits without waiting for the WAL flush, and a profiled pass.
/// </summary>
public static class LifecycleBench
{
    /// <summary>The two headline shapes only: what <c>ceiling</c> and <c>peer</c> compare against.</summary>
    public static async Task<BenchResult> RunReferenceAsync(BenchCluster cluster, BenchOptions o)
    {
        var result = new BenchResult("lifecycle");
        await BulkAsync(cluster, o, result, "bulk", "lc_bulk", o.Protocol, profile: false);
        await StreamAsync(cluster, o, result);
        result.Notes.Add($"workers: {o.Workers}, each {o.Protocol}");
        return result;
    }

    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o)
    {
        var result = await RunReferenceAsync(cluster, o);
        // The protocol before report batches and prefetch: what they are worth, in the same run.
        await BulkAsync(cluster, o, result, "bulk_unbatched", "lc_unbatched", WorkerProtocol.Unbatched, profile: false);
        await StreamAsync(cluster, o, result, drain: false);
        if (!o.Quick)
        {
            await BulkAsync(cluster, o, result, "bulk_claim64", "lc_claim64", o.Protocol with { Prefetch = 64 - o.Protocol.Slots }, profile: false);
            await DirectAsync(cluster, o, result);
        }
        if (!o.Ephemeral && !o.Quick)
        {
            await BulkAsync(cluster, o, result, "bulk_async_commit", "lc_async", o.Protocol, profile: false, settings: "synchronous_commit = off");
        }
        await BulkAsync(cluster, o, result, "profiled", "lc_profile", o.Protocol, profile: true);
        result.Notes.Add("bulk = one workflow of N jobs submitted, then drained; stream = N one-job workflows submitted by 2 clients while W workers drain");
        result.Notes.Add("claim latency counts claims that returned work; *_cpu_* is CPU per work request of this process (server + workers) and of PostgreSQL");
        return result;
    }

    private static async Task BulkAsync(
        BenchCluster cluster, BenchOptions o, BenchResult result, string prefix, string database, WorkerProtocol protocol, bool profile,
        string? settings = null)
    {
        await using var kiln = await KilnUnderTest.StartAsync(cluster, database, settings);
        var workers = new List<HttpClient>();
        for (var i = 0; i < o.Workers; i++)
        {
            workers.Add(await kiln.WorkerClientAsync($"w{i}", protocol.Slots));
        }
        var n = profile ? Math.Max(o.N / 2, 100) : o.N;
        await kiln.SubmitAsync(KilnUnderTest.Independent(16 * o.Workers, "warm-up"));
        (await WorkerFleet.DrainHttpAsync(workers, 16 * o.Workers, protocol)).Dispose();
        if (cluster.HasStatementStats)
        {
            await DbStats.ResetStatementsAsync(kiln.ConnectionString);
        }

        using var profiler = profile ? new ServerProfile() : null;
        var cpu = CpuMeter.Start(cluster);
        var start = Stopwatch.GetTimestamp();
        await kiln.SubmitAsync(KilnUnderTest.Independent(n, prefix));
        var submitted = Stopwatch.GetTimestamp();
        using var fleet = await WorkerFleet.DrainHttpAsync(workers, n, protocol);
        var submit = Stopwatch.GetElapsedTime(start, submitted).TotalSeconds;
        var drain = Stopwatch.GetElapsedTime(submitted, fleet.FinishedAt).TotalSeconds;
        cpu.Report(result, prefix, n);
        result.Metric($"{prefix}_work_requests", n);
        result.Metric($"{prefix}_submit_s", submit);
        result.Metric($"{prefix}_drain_per_s", n / drain);
        result.Metric($"{prefix}_e2e_per_s", n / (submit + drain));
        fleet.Report(result, prefix, n);
        if (profiler is not null)
        {
            profiler.Report(result, prefix);
            result.Metric($"{prefix}_client_claim_mean_ms", fleet.Claims.Mean);
            result.Metric($"{prefix}_client_complete_mean_ms", fleet.Completions.Mean);
        }
        if (cluster.HasStatementStats && prefix is "bulk" or "bulk_unbatched")
        {
            await PrintStatementsAsync(kiln, prefix, n);
        }
    }

    /// <param name="drain">False: the same submissions with no worker at all (<c>submit_only</c>), what submitting costs alone.</param>
    private static async Task StreamAsync(BenchCluster cluster, BenchOptions o, BenchResult result, bool drain = true)
    {
        var prefix = drain ? "stream" : "submit_only";
        await using var kiln = await KilnUnderTest.StartAsync(cluster, drain ? "lc_stream" : "lc_submit");
        var workers = new List<HttpClient>();
        for (var i = 0; drain && i < o.Workers; i++)
        {
            workers.Add(await kiln.WorkerClientAsync($"w{i}", o.Protocol.Slots));
        }
        var submitters = new[] { kiln.NewClient(), kiln.NewClient() };
        var submits = new Latencies();
        var n = o.N;
        if (cluster.HasStatementStats)
        {
            await DbStats.ResetStatementsAsync(kiln.ConnectionString);
        }
        var cpu = CpuMeter.Start(cluster);
        var start = Stopwatch.GetTimestamp();
        var draining = drain ? WorkerFleet.DrainHttpAsync(workers, n, o.Protocol) : null;
        var next = -1;
        await Task.WhenAll(submitters.Select(client => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < n; i = Interlocked.Increment(ref next))
            {
                var t = Stopwatch.GetTimestamp();
                using var response = await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(
                    client, "/api/v1/workflows", KilnUnderTest.Independent(1, $"s{i}"), Kiln.Server.Api.ApiJson.Options);
                response.EnsureSuccessStatusCode();
                submits.Add(Stopwatch.GetElapsedTime(t));
            }
        })));
        var submitted = Stopwatch.GetElapsedTime(start).TotalSeconds;
        result.Metric($"{prefix}_work_requests", n);
        result.Metric($"{prefix}_submit_per_s", n / submitted);
        submits.Report(result, $"{prefix}_submit");
        if (draining is null)
        {
            cpu.Report(result, prefix, n);
            return;
        }
        using var fleet = await draining;
        var total = Stopwatch.GetElapsedTime(start, fleet.FinishedAt).TotalSeconds;
        cpu.Report(result, prefix, n);
        result.Metric($"{prefix}_e2e_per_s", n / total);
        fleet.Report(result, prefix, n);
        if (cluster.HasStatementStats)
        {
            await PrintStatementsAsync(kiln, prefix, n);
        }
    }

    /// <summary>The same bulk drain with the stores called in-process: the HTTP, JSON and Kestrel cost is the difference.</summary>
    private static async Task DirectAsync(BenchCluster cluster, BenchOptions o, BenchResult result)
    {
        const string prefix = "bulk_no_http";
        await using var kiln = await KilnUnderTest.StartAsync(cluster, "lc_direct");
        var store = kiln.Service<WorkerStore>();
        var workers = new List<WorkerIdentity>();
        for (var i = 0; i < o.Workers; i++)
        {
            workers.Add((await store.AuthenticateAsync(await kiln.RegisterAsync($"w{i}", o.Protocol.Slots), default))!);
        }
        var claims = kiln.Service<ClaimStore>();
        var reports = kiln.Service<ReportStore>();
        await kiln.SubmitAsync(KilnUnderTest.Independent(16, "warm-up"));
        (await WorkerFleet.DrainDirectAsync(claims, reports, workers, 16, o.Protocol)).Dispose();
        var n = o.N;
        var cpu = CpuMeter.Start(cluster);
        await kiln.SubmitAsync(KilnUnderTest.Independent(n, prefix));
        var start = Stopwatch.GetTimestamp();
        using var fleet = await WorkerFleet.DrainDirectAsync(claims, reports, workers, n, o.Protocol);
        var drain = Stopwatch.GetElapsedTime(start, fleet.FinishedAt).TotalSeconds;
        cpu.Report(result, prefix, n);
        result.Metric($"{prefix}_drain_per_s", n / drain);
        fleet.Report(result, prefix, n);
    }

    private static async Task PrintStatementsAsync(KilnUnderTest kiln, string prefix, int n)
    {
        Console.WriteLine($"\n[lifecycle {prefix}] PostgreSQL statements per work request (pg_stat_statements, top by time):");
        DbStats.Print(Console.Out, await DbStats.StatementsAsync(kiln.ConnectionString, 10), n, "wr");
    }
}
