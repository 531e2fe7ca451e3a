using System.Globalization;
using System.Text.RegularExpressions;

namespace Kiln.Bench;

/// <summary>
/// <c>ceiling</c>: pgbench's built-in simple-update script (<c>-N</c>: one UPDATE, one SELECT,
/// one INSERT per transaction) with the same number of clients as Kiln has workers, on the same
/// cluster, as the hardware's ceiling for small write transactions. Prepared statements, so it
/// is the best PostgreSQL can do here.
/// </summary>
public static partial class CeilingBench
{
    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o, BenchResult? kiln)
    {
        var result = new BenchResult("ceiling");
        await cluster.CreateDatabaseAsync("pgbench", kilnSchema: false);
        var scale = o.Quick ? 1 : 10;
        string[] common = ["-h", cluster.SocketDirectory, "-U", "kiln"];
        var init = await cluster.RunToolAsync("pgbench", [.. common, "-i", "-q", "-s", scale.ToString(CultureInfo.InvariantCulture), "pgbench"]);
        if (init.ExitCode != 0)
        {
            throw new InvalidOperationException($"pgbench -i failed: {init.Output}");
        }
        var clients = o.Workers.ToString(CultureInfo.InvariantCulture);
        var threads = Math.Min(o.Workers, Environment.ProcessorCount).ToString(CultureInfo.InvariantCulture);
        var cpu = CpuMeter.Start(cluster);
        var run = await cluster.RunToolAsync("pgbench",
            [.. common, "-N", "-M", "prepared", "-c", clients, "-j", threads, "-T", o.PgbenchSeconds.ToString(CultureInfo.InvariantCulture), "pgbench"]);
        if (run.ExitCode != 0)
        {
            throw new InvalidOperationException($"pgbench failed: {run.Output}");
        }
        var tps = Parse(TpsPattern(), run.Output);
        var latency = Parse(LatencyPattern(), run.Output);
        var transactions = Parse(TransactionsPattern(), run.Output);
        cpu.Report(result, "pgbench", (int)Math.Max(1, transactions));
        result.Metric("pgbench_tps", tps);
        result.Metric("pgbench_latency_mean_ms", latency);
        result.Metric("pgbench_transactions", transactions);
        result.Metric("pgbench_clients", o.Workers);
        result.Metric("pgbench_scale", scale);
        result.Environment["pgbench_command"] = $"pgbench -N -M prepared -c {clients} -j {threads} -T {o.PgbenchSeconds} (scale {scale})";

        kiln ??= await LifecycleBench.RunReferenceAsync(cluster, o);
        result.Absorb(Pick(kiln, "bulk_drain_per_s", "bulk_e2e_per_s", "stream_e2e_per_s"), "kiln_");
        result.Ratio("kiln_vs_pgbench_bulk_drain", kiln.Metrics["bulk_drain_per_s"] / tps);
        result.Ratio("kiln_vs_pgbench_bulk_e2e", kiln.Metrics["bulk_e2e_per_s"] / tps);
        result.Ratio("kiln_vs_pgbench_stream_e2e", kiln.Metrics["stream_e2e_per_s"] / tps);
        result.Notes.Add("ratio = Kiln work-request lifecycles per second / pgbench simple-update transactions per second (goal >= 0.5)");
        return result;
    }

    public static BenchResult Pick(BenchResult source, params string[] keys)
    {
        var r = new BenchResult(source.Name);
        foreach (var k in keys)
        {
            r.Metric(k, source.Metrics[k]);
        }
        return r;
    }

    private static double Parse(Regex pattern, string output)
    {
        var m = pattern.Match(output);
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : double.NaN;
    }

    [GeneratedRegex(@"tps = ([0-9.]+) \(without initial connection time\)")]
    private static partial Regex TpsPattern();

    [GeneratedRegex(@"latency average = ([0-9.]+) ms")]
    private static partial Regex LatencyPattern();

    [GeneratedRegex(@"number of transactions actually processed: ([0-9]+)")]
    private static partial Regex TransactionsPattern();
}
