using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Core.Security;
using Kiln.Server.Hosting;
using Kiln.Server.Security;
using Kiln.Store.Engine;
using Kiln.Store.Identity;
using Kiln.Store.Workers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/workers</c>: registration, the long-poll claim and heartbeats. Workers only ever
/// call out to the server (no inbound connection to a worker is needed).
/// </summary>
public static class WorkersApi
{
    private const int BodyMaxBytes = 64 * 1024;
    private const int MaxSlots = 64;

    /// <summary>Long-polls re-check at least this often, so a missed notification or a backoff coming due costs at most this.</summary>
    private static readonly TimeSpan FallbackTick = TimeSpan.FromSeconds(1);

    /// <summary>How often a long-polling worker that waits for approval has its row read again.</summary>
    private static readonly TimeSpan ApprovalRecheck = TimeSpan.FromSeconds(2);

    public static IEndpointRouteBuilder MapWorkersApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/api/v1/workers").WithTags("Workers");
        group.MapPost("/register", RegisterAsync)
            .Allow(AccessPolicy.Registration)
            .Accepts<RegisterWorkerRequest>("application/json")
            .Produces<RegisterWorkerResponse>()
            .WithSummary("Register with a pool's registration token (bearer; kiln_reg_…) and enrol into that pool; returns this worker's own secret.");
        group.MapGet("/", async (WorkerStore workers, string? limit, string? after, CancellationToken ct) =>
        {
            var (n, cursor, problem) = ListQuery.Parse(limit, after);
            return problem ?? TypedResults.Ok(await workers.ListAsync(cursor, n, ct));
        }).Allow(AccessPolicy.Read).WithSummary("Registered workers with their capabilities and running count (removed workers are not listed).");
        WorkerOperatorEndpoints.Map(group);

        var authenticated = group.MapGroup("/").Allow(AccessPolicy.Worker).AddEndpointFilter<WorkerAuthFilter>();
        authenticated.MapPost("/claim", ClaimAsync)
            .Accepts<ClaimRequest>("application/json")
            .Produces<ClaimResponse>()
            .WithSummary("Long-poll for up to 'slots' work requests matching this worker; returns as soon as work appears.");
        authenticated.MapPost("/heartbeat", HeartbeatAsync)
            .Accepts<HeartbeatRequest>("application/json")
            .Produces<HeartbeatResponse>()
            .WithSummary("Renew leases; the answer says which tasks to cancel and which leases are lost.");
        return routes;
    }

    private static TimingPolicy Timing(KilnServerOptions o) =>
        new((int)o.Heartbeat.TotalSeconds, (int)o.Lease.TotalSeconds, (int)o.MaxClaimWait.TotalSeconds);

    private static async Task<IResult> RegisterAsync(
        HttpRequest request, WorkerRegistrationToken farmToken, RegistrationTokenStore tokens, WorkerStore workers, ReportStore reports,
        AuditStore audit, KilnServerOptions options, CancellationToken ct)
    {
        var presented = WorkerAuthFilter.BearerToken(request);
        if (presented is null)
        {
            return ApiProblems.Unauthorized("registration needs 'Authorization: Bearer <registration token>' (kiln worker reads it from KILN_TOKEN or --token-file); an admin makes one with 'kiln worker token create --pool POOL'");
        }
        long? poolId = null;
        if (TokenFormat.KindOf(presented) == TokenKind.Registration)
        {
            // Found by its SHA-256 (a unique index): no secret is compared here.
            var (pool, refusal) = await tokens.CheckAsync(presented, ct);
            if (refusal is not null)
            {
                return ApiProblems.Unauthorized($"the registration token was refused: {refusal}");
            }
            poolId = pool;
        }
        else if (farmToken.Value is not { } configured
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(configured)))
        {
            return ApiProblems.Unauthorized("the registration token was refused: it is no registration token of this farm; an admin makes one with 'kiln worker token create --pool POOL'");
        }
        var (body, problem) = await ApiJson.ReadAsync<RegisterWorkerRequest>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var errors = new List<ValidationError>();
        if (body!.Name is null || !Names.Identifier().IsMatch(body.Name) || body.Name.Length > 100)
        {
            errors.Add(new("name", "a worker name uses letters, digits, '.', '_' or '-' (at most 100)"));
        }
        if (body.Slots is < 1 or > MaxSlots)
        {
            errors.Add(new("slots", $"must be 1 to {MaxSlots}"));
        }
        CheckNames(errors, "architectures", body.Architectures);
        CheckNames(errors, "tags", body.Tags);
        CheckNames(errors, "queues", body.Queues);
        if (errors.Count > 0)
        {
            return ApiProblems.Invalid(errors);
        }
        var enrolment = await workers.EnrolAsync(body, poolId, ct);
        if (enrolment is not { Id: { } id, Secret: { } secret })
        {
            return enrolment.Disabled ? WorkerOperatorEndpoints.Disabled(body.Name!)
                : enrolment.OtherPool is { } other
                    ? ApiProblems.Conflict($"worker '{body.Name}' is enrolled in pool '{other}', and this token enrols into another pool: a worker changes pools only after an admin removes it ('kiln worker remove {body.Name}'); or register under another name (--name)")
                    : ApiProblems.Conflict("the registration token's pool was deleted while the worker registered; ask an admin for a token of another pool");
        }
        await audit.RecordAsync(new AuditActor("worker", id, body.Name!, request.HttpContext.Connection.RemoteIpAddress?.ToString()), "worker.enrol",
            $"worker:{body.Name}", new { pool = enrolment.Pool, approved = enrolment.Approved, token = poolId is null ? "farm-wide" : TokenFormat.DisplayPrefix(presented) }, ct);
        // A worker registering again under its name restarted and killed what it ran: hand
        // its old work back now (released, not charged). Its new instance cannot claim until
        // it has this answer, so only the old instance's leases are read.
        foreach (var held in await workers.HeldLeasesAsync(id, ct))
        {
            await reports.ReportAsync(id, held.WorkRequestId, held.LeaseToken, AttemptEnd.Released, null, "the worker restarted (registered again)", ct);
        }
        return TypedResults.Ok(new RegisterWorkerResponse(id, secret, Timing(options), enrolment.Pool, !enrolment.Approved));
    }

    private static void CheckNames(List<ValidationError> errors, string field, IReadOnlyList<string>? values)
    {
        if (values is { Count: > 64 } || (values?.Any(v => v is null || !Names.Identifier().IsMatch(v) || v.Length > 100) ?? false))
        {
            errors.Add(new(field, "at most 64 names of letters, digits, '.', '_' or '-'"));
        }
    }

    private static async Task<IResult> ClaimAsync(
        HttpContext http, ClaimStore claims, WorkerStore workers, WorkSignal signal, KilnServerOptions options, TimeProvider time, Metrics.KilnMetrics metrics,
        SecretHandout secrets, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<ClaimRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Slots is < 1 or > MaxSlots)
        {
            return ApiProblems.Invalid("slots", $"must be 1 to {MaxSlots}");
        }
        if (body.WaitSeconds < 0 || body.WaitSeconds > options.MaxClaimWait.TotalSeconds)
        {
            return ApiProblems.Invalid("waitSeconds", $"must be 0 to {options.MaxClaimWait.TotalSeconds}");
        }
        var worker = WorkerAuthFilter.Worker(http);
        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(body.WaitSeconds);
        var passedOn = false;
        // A worker waiting for approval is handed nothing: it long-polls as usual (so it does not
        // spin), and its row is read every ApprovalRecheck, so an approval lets it in at once.
        var approved = worker.Approved;
        while (!approved)
        {
            approved = await workers.IsApprovedAsync(worker.Id, ct);
            var left = deadline - time.GetUtcNow();
            if (!approved && left <= TimeSpan.Zero)
            {
                return TypedResults.Ok(new ClaimResponse([], PendingApproval: true));
            }
            if (!approved)
            {
                await Task.Delay(left < ApprovalRecheck ? left : ApprovalRecheck, time, ct);
            }
        }
        while (true)
        {
            // Queue up before looking, so work made pending between the look and the wait wakes us.
            using var waiter = signal.Register();
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var assignments = await claims.ClaimAsync(worker, body.Slots, options.Lease, ct, body.ClaimId);
            metrics.ObserveClaim(worker, assignments, System.Diagnostics.Stopwatch.GetElapsedTime(started));
            // The secrets the jobs name, for a worker of a trusted pool only (also on a claim-id repeat).
            assignments = await secrets.AttachAsync(worker, assignments, ct);
            var remaining = deadline - time.GetUtcNow();
            if (assignments.Count > 0 || remaining <= TimeSpan.Zero)
            {
                return TypedResults.Ok(new ClaimResponse(assignments));
            }
            if (waiter.Woken && !passedOn)
            {
                // Woken for work this worker cannot take (another queue or architecture): let the next waiter look.
                signal.Wake(1);
                passedOn = true;
            }
            var wait = remaining < FallbackTick ? remaining : FallbackTick;
            await waiter.WaitAsync(wait, time, ct);
        }
    }

    private static async Task<IResult> HeartbeatAsync(HttpContext http, ClaimStore claims, KilnServerOptions options, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<HeartbeatRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Leases is null || body.Leases.Count > 256)
        {
            return ApiProblems.Invalid("leases", "a list of at most 256 {workRequestId, leaseToken}");
        }
        for (var i = 0; i < body.Leases.Count; i++)
        {
            if (body.Leases[i] is null)
            {
                return ApiProblems.Invalid($"leases[{i}]", "must be a {workRequestId, leaseToken} object");
            }
        }
        var statuses = await claims.HeartbeatAsync(WorkerAuthFilter.Worker(http).Id, body.Leases, options.Lease, ct);
        return TypedResults.Ok(new HeartbeatResponse(statuses, Timing(options)));
    }
}
