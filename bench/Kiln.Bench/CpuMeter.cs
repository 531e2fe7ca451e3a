using System.Diagnostics;

namespace Kiln.Bench;

/// <summary>
/// CPU spent by this process (server, simulated workers, Hangfire) and by the PostgreSQL cluster
/// over a stretch of wall time: on a 2-core machine this says which side is the bottleneck.
/// </summary>
public sealed class CpuMeter
{
    private readonly BenchCluster _cluster;
    private readonly double _dotnet0;
    private readonly double _pg0;
    private readonly long _t0;

    private CpuMeter(BenchCluster cluster)
    {
        _cluster = cluster;
        _dotnet0 = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        _pg0 = cluster.CpuSeconds();
        _t0 = Stopwatch.GetTimestamp();
    }

    public static CpuMeter Start(BenchCluster cluster) => new(cluster);

    /// <summary>Writes <c>{prefix}_cpu_dotnet_ms_per_op</c>, <c>_cpu_postgres_ms_per_op</c> and <c>_cpu_busy_cores</c>.</summary>
    public void Report(BenchResult result, string prefix, int operations)
    {
        var wall = Stopwatch.GetElapsedTime(_t0).TotalSeconds;
        var dotnet = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - _dotnet0;
        var pg = _cluster.CpuSeconds() - _pg0;
        result.Metric($"{prefix}_cpu_dotnet_ms_per_op", dotnet * 1000 / operations);
        result.Metric($"{prefix}_cpu_postgres_ms_per_op", pg * 1000 / operations);
        result.Metric($"{prefix}_cpu_busy_cores", (dotnet + pg) / wall);
    }
}
