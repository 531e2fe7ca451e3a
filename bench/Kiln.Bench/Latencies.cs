namespace Kiln.Bench;

/// <summary>Thread-safe collector of durations with nearest-rank percentiles.</summary>
public sealed class Latencies
{
    private readonly List<double> _ms = [];
    private readonly Lock _gate = new();

    public void Add(TimeSpan elapsed)
    {
        lock (_gate)
        {
            _ms.Add(elapsed.TotalMilliseconds);
        }
    }

    /// <summary>Adds every duration <paramref name="other"/> holds.</summary>
    public void AddAll(Latencies other)
    {
        double[] theirs;
        lock (other._gate)
        {
            theirs = [.. other._ms];
        }
        lock (_gate)
        {
            _ms.AddRange(theirs);
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _ms.Count;
            }
        }
    }

    public double Percentile(double p)
    {
        lock (_gate)
        {
            if (_ms.Count == 0)
            {
                return double.NaN;
            }
            var sorted = _ms.Order().ToArray();
            var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
            return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
        }
    }

    public double Mean
    {
        get
        {
            lock (_gate)
            {
                return _ms.Count == 0 ? double.NaN : _ms.Average();
            }
        }
    }

    /// <summary>Writes <c>{prefix}_p50_ms</c>, <c>_p99_ms</c>, <c>_mean_ms</c> and <c>_count</c>.</summary>
    public void Report(BenchResult result, string prefix)
    {
        if (Count == 0)
        {
            return;
        }
        result.Metric($"{prefix}_p50_ms", Percentile(50));
        result.Metric($"{prefix}_p99_ms", Percentile(99));
        result.Metric($"{prefix}_mean_ms", Mean);
        result.Metric($"{prefix}_count", Count);
    }
}
