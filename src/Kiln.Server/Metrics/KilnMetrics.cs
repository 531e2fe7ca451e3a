using Kiln.Contracts;
using Kiln.Server.Hosting;
using Kiln.Store.Engine;
using Prometheus;

namespace Kiln.Server.Metrics;

/// <summary>
/// The server's Prometheus metrics (<c>GET /metrics</c>), in a registry of this server's own (so
/// several servers in one process — the tests — keep apart). The counters here are observed in
/// the API layer from what the engine already returns, at the cost of a few interlocked
/// increments per request; the gauges and the ledger-derived histograms are read at scrape time
/// by <see cref="FarmStateCollector"/> and <see cref="AttemptLedgerReader"/>. Per-worker labels
/// exist only with <see cref="KilnServerOptions.MetricsDetailed"/>. The names are documented in
/// docs/operations.md.
/// </summary>
public sealed class KilnMetrics
{
    /// <summary>Statement latencies: 0.5 ms to ~4 s.</summary>
    internal static readonly double[] LatencyBuckets = Histogram.ExponentialBuckets(0.0005, 2, 14);

    private readonly Counter _claims;
    private readonly Counter _claimed;
    private readonly Counter _claimedRetries;
    private readonly Histogram _claimSeconds;
    private readonly Counter _reports;
    private readonly Histogram _reportSeconds;
    private readonly bool _detailed;

    public KilnMetrics(KilnServerOptions options)
    {
        _detailed = options.MetricsDetailed;
        Registry = Prometheus.Metrics.NewCustomRegistry();
        Factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        DotNetStats.Register(Registry);
        string[] worker = _detailed ? ["worker"] : [];
        _claims = Factory.CreateCounter("kiln_claims_total",
            "Claim statements run for workers, by whether they handed out work (a long-poll runs one per wake-up).",
            [.. worker, "result"]);
        _claimed = Factory.CreateCounter("kiln_claimed_work_requests_total", "Work requests handed to workers by claims.", worker);
        _claimedRetries = Factory.CreateCounter("kiln_claimed_retries_total",
            "Work requests handed out again after an earlier attempt ended (retries starting).", worker);
        _claimSeconds = Factory.CreateHistogram("kiln_claim_duration_seconds",
            "Time of one claim statement (not the long-poll's wait).", new HistogramConfiguration { Buckets = LatencyBuckets });
        _reports = Factory.CreateCounter("kiln_reports_total",
            "Worker reports about attempts, by reported result and how the server answered (recorded, repeated, not-found, refused).",
            ["result", "status"]);
        _reportSeconds = Factory.CreateHistogram("kiln_report_duration_seconds",
            "Time from a report request's arrival to its answer, per request (a batch counts once).",
            new HistogramConfiguration { Buckets = LatencyBuckets, LabelNames = ["endpoint"] });
    }

    /// <summary>This server's registry: what <c>/metrics</c> exports.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Creates further metrics in <see cref="Registry"/>.</summary>
    public IMetricFactory Factory { get; }

    /// <summary>Whether high-cardinality labels (job name, worker) are on.</summary>
    public bool Detailed => _detailed;

    /// <summary>One claim statement's result.</summary>
    public void ObserveClaim(WorkerIdentity worker, IReadOnlyList<Assignment> assignments, TimeSpan elapsed)
    {
        _claimSeconds.Observe(elapsed.TotalSeconds);
        var retries = 0;
        foreach (var a in assignments)
        {
            retries += a.Attempt > 1 ? 1 : 0;
        }
        var result = assignments.Count > 0 ? "work" : "empty";
        if (_detailed)
        {
            _claims.WithLabels(worker.Name, result).Inc();
            _claimed.WithLabels(worker.Name).Inc(assignments.Count);
            _claimedRetries.WithLabels(worker.Name).Inc(retries);
        }
        else
        {
            _claims.WithLabels(result).Inc();
            _claimed.Inc(assignments.Count);
            _claimedRetries.Inc(retries);
        }
    }

    /// <summary>One report's answer.</summary>
    public void ObserveReport(string result, string status) => _reports.WithLabels(result, status).Inc();

    /// <summary>One report request's duration.</summary>
    public void ObserveReportRequest(string endpoint, TimeSpan elapsed) => _reportSeconds.WithLabels(endpoint).Observe(elapsed.TotalSeconds);
}
