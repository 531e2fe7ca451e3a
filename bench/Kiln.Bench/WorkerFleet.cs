using System.Diagnostics;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Api;
using Kiln.Store.Engine;

namespace Kiln.Bench;

/// <summary>
/// How a simulated worker talks to the server, as <c>kiln worker --slots S --prefetch P</c> running
/// <c>true</c> would: it claims up to S + P at once (long poll), and reports either one request
/// per task (<c>complete</c>, the protocol before report batches) or every result since its last
/// report in one request (<c>reports</c>, what the worker does now).
/// </summary>
public sealed record WorkerProtocol(int Slots, int Prefetch, bool BatchReports)
{
    /// <summary>One task at a time, one claim and one report request per task.</summary>
    public static readonly WorkerProtocol Unbatched = new(1, 0, false);

    public int ClaimSize => Math.Min(64, Slots + Prefetch);

    public override string ToString() => $"{Slots} slot(s), prefetch {Prefetch}, {(BatchReports ? "batched reports" : "one report request per task")}";
}

/// <summary>
/// Simulated workers: each claims (long-poll, see <see cref="WorkerProtocol"/>), then reports every
/// assignment as succeeded at once, as a worker running <c>true</c> would. Runs until the fleet has
/// completed <c>target</c> work requests, then stops its pending long-polls.
/// </summary>
public sealed class WorkerFleet : IDisposable
{
    private int _remaining;
    private long _lastCompletion;
    private readonly CancellationTokenSource _stop = new();

    private WorkerFleet(int target) => _remaining = target;

    /// <summary>Claims that returned work, measured at the worker (request sent to answer read).</summary>
    public Latencies Claims { get; } = new();

    /// <summary>Long-polls that came back empty (they wait up to a second, so they are not latency).</summary>
    public int EmptyClaims => _empty;

    /// <summary>Report requests (one per task, or one per batch), measured at the worker.</summary>
    public Latencies Completions { get; } = new();

    /// <summary>Stopwatch timestamp of the last completion.</summary>
    public long FinishedAt => Interlocked.Read(ref _lastCompletion);

    private int _empty;

    public static async Task<WorkerFleet> DrainHttpAsync(IReadOnlyList<HttpClient> workers, int target, WorkerProtocol protocol)
    {
        var fleet = new WorkerFleet(target);
        await Task.WhenAll(workers.Select(w => Task.Run(() => fleet.HttpWorkerAsync(w, protocol))));
        return fleet;
    }

    public static async Task<WorkerFleet> DrainDirectAsync(
        ClaimStore claims, ReportStore reports, IReadOnlyList<WorkerIdentity> workers, int target, WorkerProtocol protocol)
    {
        var fleet = new WorkerFleet(target);
        await Task.WhenAll(workers.Select(w => Task.Run(() => fleet.DirectWorkerAsync(claims, reports, w, protocol))));
        return fleet;
    }

    private async Task HttpWorkerAsync(HttpClient client, WorkerProtocol protocol)
    {
        var ct = _stop.Token;
        var inFlight = Task.CompletedTask;
        try
        {
            while (Volatile.Read(ref _remaining) > 0)
            {
                var started = Stopwatch.GetTimestamp();
                ClaimResponse claim;
                using (var response = await client.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(protocol.ClaimSize, 1), ApiJson.Options, ct))
                {
                    await EnsureAsync(response, "claim");
                    claim = (await response.Content.ReadFromJsonAsync<ClaimResponse>(ApiJson.Options, ct))!;
                }
                if (claim.Assignments.Count == 0)
                {
                    Interlocked.Increment(ref _empty);
                    continue;
                }
                Claims.Add(Stopwatch.GetElapsedTime(started));
                if (protocol.BatchReports)
                {
                    // As the worker's report sender: one batch in flight while the next claim goes out.
                    await inFlight;
                    inFlight = ReportBatchAsync(client, claim.Assignments, ct);
                    continue;
                }
                foreach (var a in claim.Assignments)
                {
                    started = Stopwatch.GetTimestamp();
                    using (var response = await client.PostAsJsonAsync(
                        $"/api/v1/work-requests/{a.WorkRequestId}/complete", new CompleteRequest(a.LeaseToken, "succeeded", 0, null), ApiJson.Options, ct))
                    {
                        await EnsureAsync(response, "complete");
                    }
                    Completions.Add(Stopwatch.GetElapsedTime(started));
                    Completed();
                }
            }
            await inFlight;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task ReportBatchAsync(HttpClient client, IReadOnlyList<Assignment> assignments, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var reports = new ReportBatchRequest([.. assignments.Select(a => new WorkerReport(a.WorkRequestId, a.LeaseToken, "succeeded", 0, null))]);
        using (var response = await client.PostAsJsonAsync("/api/v1/work-requests/reports", reports, ApiJson.Options, ct))
        {
            await EnsureAsync(response, "reports");
            var answer = (await response.Content.ReadFromJsonAsync<ReportBatchResponse>(ApiJson.Options, ct))!;
            if (answer.Results.FirstOrDefault(r => r.Status != 200) is { } refused)
            {
                throw new InvalidOperationException($"report of {refused.WorkRequestId} was refused: {refused.Status} {refused.Problem}");
            }
        }
        Completions.Add(Stopwatch.GetElapsedTime(started));
        foreach (var _ in assignments)
        {
            Completed();
        }
    }

    private async Task DirectWorkerAsync(ClaimStore claims, ReportStore reports, WorkerIdentity worker, WorkerProtocol protocol)
    {
        var lease = TimeSpan.FromSeconds(60);
        while (Volatile.Read(ref _remaining) > 0)
        {
            var started = Stopwatch.GetTimestamp();
            var claimed = await claims.ClaimAsync(worker, protocol.ClaimSize, lease, CancellationToken.None);
            if (claimed.Count == 0)
            {
                Interlocked.Increment(ref _empty);
                await Task.Delay(5);
                continue;
            }
            Claims.Add(Stopwatch.GetElapsedTime(started));
            if (protocol.BatchReports)
            {
                started = Stopwatch.GetTimestamp();
                var results = await reports.CompleteSucceededAsync([.. claimed.Select(a => new SuccessReport(worker.Id, a.WorkRequestId, a.LeaseToken, 0, null))], CancellationToken.None);
                if (results.FirstOrDefault(r => r.Status != ReportStatus.Recorded) is { } refused)
                {
                    throw new InvalidOperationException($"a completion was {refused.Status}: {refused.Problem}");
                }
                Completions.Add(Stopwatch.GetElapsedTime(started));
                foreach (var _ in claimed)
                {
                    Completed();
                }
                continue;
            }
            foreach (var a in claimed)
            {
                started = Stopwatch.GetTimestamp();
                var result = await reports.ReportAsync(worker.Id, a.WorkRequestId, a.LeaseToken, AttemptEnd.Succeeded, 0, null, CancellationToken.None);
                if (result.Status != ReportStatus.Recorded)
                {
                    throw new InvalidOperationException($"completion of {a.WorkRequestId} was {result.Status}: {result.Problem}");
                }
                Completions.Add(Stopwatch.GetElapsedTime(started));
                Completed();
            }
        }
    }

    private void Completed()
    {
        Interlocked.Exchange(ref _lastCompletion, Stopwatch.GetTimestamp());
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _stop.Cancel();
        }
    }

    /// <summary>Writes <c>{prefix}_claim_*</c>, <c>_empty_claims_per_wr</c> and <c>_complete_*</c> for <paramref name="n"/> work requests.</summary>
    public void Report(BenchResult result, string prefix, int n)
    {
        Claims.Report(result, $"{prefix}_claim");
        result.Metric($"{prefix}_empty_claims_per_wr", EmptyClaims / (double)n);
        Completions.Report(result, $"{prefix}_complete");
    }

    public void Dispose() => _stop.Dispose();

    private static async Task EnsureAsync(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{what} failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}
