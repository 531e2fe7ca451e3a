using System.Net.Http.Json;
using Kiln.Server.Api;

namespace Kiln.Bench;

/// <summary>
/// <c>writes</c>: tuple writes (pg_stat_user_tables n_tup_ins + n_tup_upd + n_tup_del) and WAL
/// bytes (pg_current_wal_lsn difference) per simple work-request lifecycle — submit, claim,
/// complete — for both shapes, with the per-table and per-statement breakdown. Nothing else
/// runs in the cluster meanwhile, so the WAL difference is Kiln's (plus any checkpoint or
/// autovacuum that falls inside, which is real cost too).
/// </summary>
public static class WritesBench
{
    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o)
    {
        var result = new BenchResult("writes");
        var n = o.Quick ? 150 : 2_000;
        await MeasureAsync(cluster, o, result, "bulk", n);
        await MeasureAsync(cluster, o, result, "stream", n);
        result.Notes.Add("goal: <= 6 tuple writes per simple work request lifecycle");
        return result;
    }

    private static async Task MeasureAsync(BenchCluster cluster, BenchOptions o, BenchResult result, string shape, int n)
    {
        await using var kiln = await KilnUnderTest.StartAsync(cluster, $"writes_{shape}");
        var workers = new List<HttpClient>();
        for (var i = 0; i < o.Workers; i++)
        {
            workers.Add(await kiln.WorkerClientAsync($"w{i}", 1));
        }
        kiln.FlushStatistics();
        var before = await DbStats.TupleWritesAsync(kiln.ConnectionString);
        var lsn0 = await DbStats.WalLsnAsync(kiln.ConnectionString);
        var wal0 = await DbStats.WalAsync(kiln.ConnectionString);
        if (cluster.HasStatementStats)
        {
            await DbStats.ResetStatementsAsync(kiln.ConnectionString);
        }

        var drain = WorkerFleet.DrainHttpAsync(workers, n, WorkerProtocol.Unbatched);
        if (shape == "bulk")
        {
            await kiln.SubmitAsync(KilnUnderTest.Independent(n, "writes"));
        }
        else
        {
            for (var i = 0; i < n; i++)
            {
                using var response = await kiln.Client.PostAsJsonAsync("/api/v1/workflows", KilnUnderTest.Independent(1, $"s{i}"), ApiJson.Options);
                response.EnsureSuccessStatusCode();
            }
        }
        (await drain).Dispose();
        kiln.FlushStatistics();

        var after = await DbStats.TupleWritesAsync(kiln.ConnectionString);
        var lsn1 = await DbStats.WalLsnAsync(kiln.ConnectionString);
        var wal = await DbStats.WalAsync(kiln.ConnectionString) - wal0;
        var total = after.Values.Sum() - before.Values.Sum();
        result.Metric($"{shape}_work_requests", n);
        result.Metric($"{shape}_tuple_writes_per_wr", total / (double)n);
        foreach (var (table, writes) in after.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var delta = writes - before.GetValueOrDefault(table);
            if (delta != 0)
            {
                result.Metric($"{shape}_tuple_writes_{table}_per_wr", delta / (double)n);
            }
        }
        result.Metric($"{shape}_wal_bytes_per_wr", (lsn1 - lsn0) / (double)n);
        result.Metric($"{shape}_wal_records_per_wr", wal.Records / (double)n);
        result.Metric($"{shape}_wal_full_page_images_per_wr", wal.FullPages / (double)n);
        result.Metric($"{shape}_wal_syncs_per_wr", wal.Syncs / (double)n);
        result.Metric($"{shape}_wal_sync_ms_per_wr", wal.SyncMs / n);
        if (cluster.HasStatementStats)
        {
            Console.WriteLine($"\n[writes {shape}] statements by time, per work request (pg_stat_statements):");
            DbStats.Print(Console.Out, await DbStats.StatementsAsync(kiln.ConnectionString, 12), n, "wr");
        }
    }
}
