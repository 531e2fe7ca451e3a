using System.Reflection;
using Kiln.Contracts;
using Kiln.Server.Security;
using Kiln.Store.Database;
using Kiln.Store.Status;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Npgsql;

namespace Kiln.Server.Api;

/// <summary>
/// Operator endpoints: <c>/healthz</c> (the process answers; no database), <c>/readyz</c> (the
/// database answers and has every migration: for load balancers and systemd) and
/// <c>/api/v1/status</c> (the farm at a glance: leader, clocks, queues, workers).
/// </summary>
public static class StatusApi
{
    /// <summary>How long the database may take to answer a readiness or status probe.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    public static string Version { get; } =
        typeof(StatusApi).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder routes)
    {
        var probes = routes.MapGroup("/").WithTags("Operations");
        probes.MapGet("/healthz", () => TypedResults.Ok(new HealthResponse("ok", Version)))
            .Allow(AccessPolicy.Public)
            .WithSummary("Liveness: the process answers HTTP. Does not touch the database.");
        probes.MapGet("/readyz", ReadyAsync)
            .Allow(AccessPolicy.Public)
            .Produces<HealthResponse>()
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Readiness: the database answers and every migration this server knows is applied; 503 problem details otherwise.");
        routes.MapGet("/api/v1/status", StatusAsync)
            .Allow(AccessPolicy.Read)
            .WithTags("Operations")
            .Produces<FarmStatus>()
            .WithSummary("The farm at a glance: version, database, who leads the background duties and since when, clock skew, queues, workers online.");
        return routes;
    }

    private static async Task<IResult> ReadyAsync(StatusStore store, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            var missing = StatusStore.Missing(await store.AppliedMigrationsAsync(timeout.Token));
            return missing.Count == 0
                ? TypedResults.Ok(new HealthResponse("ready", Version))
                : ApiProblems.Status(StatusCodes.Status503ServiceUnavailable, "Not ready",
                    $"the database lacks migration(s) {string.Join(", ", missing)}; start a server of this version to apply them");
        }
        catch (Exception e) when (IsDatabaseTrouble(e, ct))
        {
            return ApiProblems.Status(StatusCodes.Status503ServiceUnavailable, "Not ready", $"the database does not answer: {e.Message}");
        }
    }

    private static async Task<IResult> StatusAsync(StatusStore store, LeaderLease leader, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ProbeTimeout);
        var warnings = new List<string>();
        var bound = leader.Options.Lease;
        var skew = leader.ClockSkew;
        if (skew is { } local && local.Duration() > leader.Options.SkewWarning)
        {
            warnings.Add($"this replica's clock is {local.TotalSeconds:+0.0;-0.0} s off the database's (warning above {leader.Options.SkewWarning.TotalSeconds:0} s); synchronise the clocks");
        }

        DatabaseStatus database;
        LeadershipView? view = null;
        IReadOnlyList<QueueStatus> queues = [];
        var workers = new WorkerCounts(0, 0, 0, 0, (int)StatusStore.OnlineWindow.TotalSeconds);
        try
        {
            var applied = await store.AppliedMigrationsAsync(timeout.Token);
            var missing = StatusStore.Missing(applied);
            database = new DatabaseStatus(true, missing.Count == 0, applied.Count > 0 ? applied[^1] : null, missing, null);
            if (missing.Count > 0)
            {
                warnings.Add($"the database lacks migration(s) {string.Join(", ", missing)}");
            }
            view = await store.LeadershipAsync(timeout.Token);
            queues = await store.QueuesAsync(timeout.Token);
            workers = await store.WorkersAsync(timeout.Token);
        }
        catch (Exception e) when (IsDatabaseTrouble(e, ct))
        {
            database = new DatabaseStatus(false, false, null, [], e.Message);
            warnings.Add($"the database does not answer: {e.Message}");
            // What this replica saw last is better than nothing.
            view = leader.LastSeen;
        }

        LeadershipStatus leadership;
        if (view is { Held: true })
        {
            leadership = new(view.Holder, view.AcquiredAt, view.Fence, view.ExpiresAt, (int)view.HolderClockSkew.TotalMilliseconds, 0, (int)bound.TotalSeconds);
            if (view.HolderClockSkew.Duration() > leader.Options.SkewWarning)
            {
                warnings.Add($"the leader's clock is {view.HolderClockSkew.TotalSeconds:+0.0;-0.0} s off the database's; lease expiry is judged by it");
            }
        }
        else
        {
            var leaderless = view?.Leaderless ?? leader.Leaderless;
            leadership = new(null, null, view?.Fence ?? 0, view?.ExpiresAt, null, Math.Round(leaderless.TotalSeconds, 1), (int)bound.TotalSeconds);
            if (leaderless > bound)
            {
                warnings.Add($"no replica has led the background duties for {leaderless.TotalSeconds:0} s (bound {bound.TotalSeconds:0} s): expired leases are not reaped");
            }
        }
        // Leading by its own clock and by the row as just read (a lease it cannot know it lost counts as lost).
        var leading = leader.MayRunDuties && view is { Held: true } && view.Holder == leader.ReplicaId && view.Fence == leader.Fence;
        var replica = new ReplicaStatus(leader.ReplicaId, leading, skew is { } s ? (int)s.TotalMilliseconds : null);
        return TypedResults.Ok(new FarmStatus(Version, replica, database, leadership, queues, workers, warnings));
    }

    private static bool IsDatabaseTrouble(Exception e, CancellationToken request) =>
        e is NpgsqlException or TimeoutException or InvalidOperationException
        || (e is OperationCanceledException && !request.IsCancellationRequested);
}
