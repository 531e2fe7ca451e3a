using System.Collections.Concurrent;
using System.Diagnostics;

namespace Kiln.Bench;

/// <summary>
/// Where a request's time goes inside the server, without touching the server's code: ASP.NET
/// Core starts an activity per request and Npgsql one per command (or batch) when someone
/// listens. Each Npgsql activity is charged to the request it ran under, so per route we get
/// the server-side request time, the part spent waiting on PostgreSQL, and the number of
/// database round trips. The rest is routing, authentication, JSON and the endpoint's own code.
/// </summary>
public sealed class ServerProfile : IDisposable
{
    private const string SqlKey = "kiln.bench.sql";
    private readonly ActivityListener _listener;
    private readonly ConcurrentDictionary<string, RouteTotals> _routes = new();

    public ServerProfile()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Npgsql" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = Stopped,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    private sealed class SqlTotals
    {
        public double Ms;
        public int Commands;
        public int Claims;
        public string Kind = "other";
    }

    private sealed class RouteTotals
    {
        public long Requests;
        public double ServerMs;
        public double SqlMs;
        public long Commands;
    }

    private void Stopped(Activity activity)
    {
        if (activity.Source.Name == "Npgsql")
        {
            var request = activity.Parent;
            while (request is not null && request.Source.Name != "Microsoft.AspNetCore")
            {
                request = request.Parent;
            }
            if (request?.GetCustomProperty(SqlKey) is not SqlTotals totals)
            {
                if (request is null)
                {
                    return;
                }
                totals = new SqlTotals();
                request.SetCustomProperty(SqlKey, totals);
            }
            lock (totals)
            {
                totals.Ms += activity.Duration.TotalMilliseconds;
                totals.Commands++;
                var text = activity.GetTagItem("db.query.text") as string ?? "";
                if (text.Contains("SKIP LOCKED", StringComparison.Ordinal))
                {
                    totals.Claims++;
                    totals.Kind = "claim";
                }
                else if (text.Contains("INSERT INTO attempts", StringComparison.Ordinal))
                {
                    totals.Kind = "complete";
                }
                else if (text.StartsWith("COPY work_requests", StringComparison.Ordinal) || text.StartsWith("INSERT INTO workflows", StringComparison.Ordinal))
                {
                    totals.Kind = totals.Kind == "other" ? "submit" : totals.Kind;
                }
            }
            return;
        }
        var sql = activity.GetCustomProperty(SqlKey) as SqlTotals;
        // Requests are told apart by what they ran: the hosting activity carries no route. A
        // claim that ran its statement more than once waited for work (long-poll) in between.
        var route = sql is null ? "other" : sql.Kind == "claim" && sql.Claims > 1 ? "claim_waited" : sql.Kind;
        var r = _routes.GetOrAdd(route, _ => new RouteTotals());
        lock (r)
        {
            r.Requests++;
            r.ServerMs += activity.Duration.TotalMilliseconds;
            r.SqlMs += sql?.Ms ?? 0;
            r.Commands += sql?.Commands ?? 0;
        }
    }

    /// <summary>Per kind of request (claim, claim_waited, complete, submit): count, <c>server_ms</c>, <c>sql_ms</c>, <c>other_ms</c> (server minus SQL) and <c>sql_round_trips</c>, each per request.</summary>
    public void Report(BenchResult result, string prefix)
    {
        foreach (var (route, t) in _routes)
        {
            if (t.Requests == 0)
            {
                continue;
            }
            result.Metric($"{prefix}_{route}_requests", t.Requests);
            result.Metric($"{prefix}_{route}_server_ms", t.ServerMs / t.Requests);
            result.Metric($"{prefix}_{route}_sql_ms", t.SqlMs / t.Requests);
            result.Metric($"{prefix}_{route}_other_ms", (t.ServerMs - t.SqlMs) / t.Requests);
            result.Metric($"{prefix}_{route}_sql_round_trips", t.Commands / (double)t.Requests);
        }
    }

    public void Dispose() => _listener.Dispose();
}
