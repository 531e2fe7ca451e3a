using System.Diagnostics;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Server.Api;
using Kiln.Store.Engine;

namespace Kiln.Bench;

/// <summary>
/// Simulated workers: each claims (long-poll, up to <c>slots</c>), then reports every assignment
/// as succeeded at once, as a worker running <c>true</c> would. Runs until the fleet has
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

    public Latencies Completions { get; } = new();

    /// <summary>Stopwatch timestamp of the last completion.</summary>
    public long FinishedAt => Interlocked.Read(ref _lastCompletion);

    private int _empty;

    public static async Task<WorkerFleet> DrainHttpAsync(IReadOnlyList<HttpClient> workers, int target, int slots)
    {
        var fleet = new WorkerFleet(target);
        await Task.WhenAll(workers.Select(w => Task.Run(() => fleet.HttpWorkerAsync(w, slots))));
        return fleet;
    }

    public static async Task<WorkerFleet> DrainDirectAsync(
        ClaimStore claims, ReportStore reports, IReadOnlyList<WorkerIdentity> workers, int target, int slots)
    {
        var fleet = new WorkerFleet(target);
        await Task.WhenAll(workers.Select(w => Task.Run(() => fleet.DirectWorkerAsync(claims, reports, w, slots))));
        return fleet;
    }

    private async Task HttpWorkerAsync(HttpClient client, int slots)
    {
        var ct = _stop.Token;
        try
        {
            while (Volatile.Read(ref _remaining) > 0)
            {
                var started = Stopwatch.GetTimestamp();
                ClaimResponse claim;
                using (var response = await client.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(slots, 1), ApiJson.Options, ct))
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
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task DirectWorkerAsync(ClaimStore claims, ReportStore reports, WorkerIdentity worker, int slots)
    {
        var lease = TimeSpan.FromSeconds(60);
        while (Volatile.Read(ref _remaining) > 0)
        {
            var started = Stopwatch.GetTimestamp();
            var claimed = await claims.ClaimAsync(worker, slots, lease, CancellationToken.None);
            if (claimed.Count == 0)
            {
                Interlocked.Increment(ref _empty);
                await Task.Delay(5);
                continue;
            }
            Claims.Add(Stopwatch.GetElapsedTime(started));
            foreach (var a in claimed)
            {
                started = Stopwatch.GetTimestamp();
                var result = await reports.CompleteAsync(a.WorkRequestId, a.LeaseToken, AttemptEnd.Succeeded, 0, null, CancellationToken.None);
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

    public void Dispose() => _stop.Dispose();

    private static async Task EnsureAsync(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{what} failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}
