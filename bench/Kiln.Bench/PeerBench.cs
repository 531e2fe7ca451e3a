using System.Diagnostics;
using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;

namespace Kiln.Bench;

/// <summary>
/// <c>peer</c>: the same no-op load through Hangfire with Hangfire.PostgreSql, on its own
/// database in the same cluster, in the same process: N jobs enqueued by two producers, run by
/// a BackgroundJobServer of W workers. Shapes as in <c>lifecycle</c>: <b>bulk</b> (all enqueued,
/// then the server starts) and <b>stream</b> (enqueued while the server runs). Hangfire is given
/// its fastest settings: long polling (LISTEN/NOTIFY) and a 50 ms poll fallback.
/// </summary>
public static class PeerBench
{
    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o, BenchResult? kiln)
    {
        var result = new BenchResult("peer");
        var cs = await cluster.CreateDatabaseAsync("hangfire", kilnSchema: false);
        var storageOptions = new PostgreSqlStorageOptions
        {
            PrepareSchemaIfNecessary = true,
            EnableLongPolling = true,
            QueuePollInterval = TimeSpan.FromMilliseconds(50),
        };
        var storage = new PostgreSqlStorage(new NpgsqlConnectionFactory(cs, storageOptions), storageOptions);
        var client = new BackgroundJobClient(storage);
        // Each phase has its own queue: a worker of the previous phase's server that is still
        // shutting down must not fetch (and, cancelled, leave invisible) a job of the next.
        BackgroundJobServerOptions Server(string queue) => new()
        {
            WorkerCount = o.Workers,
            ServerName = $"kiln-bench-{queue}",
            Queues = [queue],
            SchedulePollingInterval = TimeSpan.FromSeconds(1),
            ShutdownTimeout = TimeSpan.FromSeconds(10),
        };
        var n = o.N;
        var stall = TimeSpan.FromSeconds(5);
        var missing = 0;

        // Warm-up: schema, JIT, connection pool.
        HangfireNoop.Expect(16);
        Enqueue(client, "warmup", 16);
        using (new BackgroundJobServer(Server("warmup"), storage))
        {
            await HangfireNoop.WaitAsync(TimeSpan.FromSeconds(30));
        }

        // bulk
        Npgsql.NpgsqlConnection.ClearAllPools();
        var writes0 = await DbStats.TupleWritesAsync(cs);
        var lsn0 = await DbStats.WalLsnAsync(cs);
        var cpu = CpuMeter.Start(cluster);
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, 2).Select(p => Task.Run(() => Enqueue(client, "bulk", n / 2 + (p == 0 ? n % 2 : 0)))));
        var enqueued = Stopwatch.GetTimestamp();
        // Counted from here: nothing runs them before the server starts.
        HangfireNoop.Expect(n);
        TimeSpan drain;
        int ran;
        using (new BackgroundJobServer(Server("bulk"), storage))
        {
            var (m, last) = await HangfireNoop.WaitAsync(stall);
            missing += m;
            ran = n - m;
            drain = Stopwatch.GetElapsedTime(enqueued, last);
        }
        cpu.Report(result, "hangfire_bulk", ran);
        var enqueue = Stopwatch.GetElapsedTime(start, enqueued).TotalSeconds;
        result.Metric("hangfire_bulk_enqueue_s", enqueue);
        result.Metric("hangfire_bulk_drain_per_s", ran / drain.TotalSeconds);
        result.Metric("hangfire_bulk_e2e_per_s", ran / (enqueue + drain.TotalSeconds));
        Npgsql.NpgsqlConnection.ClearAllPools();
        var lsn1 = await DbStats.WalLsnAsync(cs);
        var writes1 = await DbStats.TupleWritesAsync(cs);
        result.Metric("hangfire_tuple_writes_per_job", (writes1.Values.Sum() - writes0.Values.Sum()) / (double)n);
        result.Metric("hangfire_wal_bytes_per_job", (lsn1 - lsn0) / (double)n);

        // stream
        HangfireNoop.Expect(n);
        using (new BackgroundJobServer(Server("stream"), storage))
        {
            cpu = CpuMeter.Start(cluster);
            start = Stopwatch.GetTimestamp();
            await Task.WhenAll(Enumerable.Range(0, 2).Select(p => Task.Run(() => Enqueue(client, "stream", n / 2 + (p == 0 ? n % 2 : 0)))));
            var (m, last) = await HangfireNoop.WaitAsync(stall);
            missing += m;
            var total = Stopwatch.GetElapsedTime(start, last).TotalSeconds;
            cpu.Report(result, "hangfire_stream", n - m);
            result.Metric("hangfire_stream_e2e_per_s", (n - m) / total);
        }
        result.Metric("hangfire_workers", o.Workers);
        // Jobs fetched but never run within 5 s of the last one (left invisible until Hangfire's
        // 30-minute invisibility timeout); throughput counts only the jobs that ran.
        result.Metric("hangfire_stranded_jobs", missing);
        result.Environment["hangfire"] = $"Hangfire.Core {typeof(BackgroundJob).Assembly.GetName().Version}, Hangfire.PostgreSql {typeof(PostgreSqlStorage).Assembly.GetName().Version}";

        kiln ??= await LifecycleBench.RunReferenceAsync(cluster, o);
        result.Absorb(CeilingBench.Pick(kiln, "bulk_drain_per_s", "bulk_e2e_per_s", "stream_e2e_per_s"), "kiln_");
        result.Ratio("kiln_vs_hangfire_bulk_e2e", kiln.Metrics["bulk_e2e_per_s"] / result.Metrics["hangfire_bulk_e2e_per_s"]);
        result.Ratio("kiln_vs_hangfire_bulk_drain", kiln.Metrics["bulk_drain_per_s"] / result.Metrics["hangfire_bulk_drain_per_s"]);
        result.Ratio("kiln_vs_hangfire_stream_e2e", kiln.Metrics["stream_e2e_per_s"] / result.Metrics["hangfire_stream_e2e_per_s"]);
        result.Notes.Add("Hangfire's job body runs in-process with no HTTP hop; Kiln's workers go through HTTP to the server (goal: Kiln >= 10x)");
        return result;
    }

    private static void Enqueue(BackgroundJobClient client, string queue, int count)
    {
        var state = new Hangfire.States.EnqueuedState(queue);
        for (var i = 0; i < count; i++)
        {
            client.Create(() => HangfireNoop.Run(), state);
        }
    }
}
