using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Kiln.Core.Security;
using Kiln.Server.Api;
using Kiln.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Security;

/// <summary>
/// Request rate limits (docs/api.md, "Rate limits"): token buckets on request starts, in three
/// budgets that never share a bucket — API callers per token (<see cref="KilnServerOptions.RateLimitPerMinute"/>),
/// anonymous callers per client address (<see cref="KilnServerOptions.AnonymousRateLimitPerMinute"/>),
/// and the worker protocol per worker secret (registrations per address) with its own, much
/// larger budget (<see cref="KilnServerOptions.WorkerRateLimitPerMinute"/>), so a flood of reads
/// from anyone cannot starve claims, heartbeats and reports. Public endpoints (probes, metrics,
/// the API description) are never limited. Only starts are counted, never how long a request
/// runs: a long-poll (a claim's wait, <c>kiln logs -f</c>) costs one token like any other call.
/// The limiter runs after <see cref="AccessMiddleware"/>, which has already named the caller.
/// Buckets live in this process: behind a load balancer each replica counts on its own.
/// </summary>
public static partial class RateLimits
{
    private const string BudgetKey = "kiln.rate-budget";

    /// <summary>Largest budget (requests a minute): beyond it a bucket's refill period rounds to nothing; use 0 for unlimited.</summary>
    public const int MaxPerMinute = 1_000_000;

    /// <summary>Registers the limiter with the sizes of <paramref name="options"/>.</summary>
    public static IServiceCollection AddKilnRateLimits(this IServiceCollection services, KilnServerOptions options)
    {
        var token = new Budget("token", "per API token", "--rate-limit", options.RateLimitPerMinute);
        var anonymous = new Budget("anonymous", "per client address without a token", "--anonymous-rate-limit", options.AnonymousRateLimitPerMinute);
        var worker = new Budget("worker", "per worker for the worker protocol", "--worker-rate-limit", options.WorkerRateLimitPerMinute);
        var intake = new Budget("event", "per API token for event intake", "--event-rate-limit", options.EventRateLimitPerMinute);
        foreach (var budget in new[] { token, anonymous, worker, intake })
        {
            if (budget.PerMinute is < 0 or > MaxPerMinute)
            {
                throw new ArgumentOutOfRangeException(nameof(options), $"{budget.Option} must be 0 (unlimited) to {MaxPerMinute} requests a minute");
            }
        }
        return services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http => Partition(http, token, anonymous, worker, intake));
            o.OnRejected = RejectAsync;
        });
    }

    /// <summary>Applies the limits; call after <c>UseKilnAccess</c> (the caller is known there).</summary>
    public static IApplicationBuilder UseKilnRateLimits(this IApplicationBuilder app) => app.UseRateLimiter();

    /// <summary>One budget: its name in the 429 body, what it is counted per, the option that sizes it, and its size.</summary>
    private sealed record Budget(string Name, string Per, string Option, int PerMinute)
    {
        /// <summary>
        /// A bucket of <see cref="PerMinute"/> requests (the burst), refilled continuously at that
        /// rate: one token every 60/PerMinute seconds. The partitioned limiter replenishes its
        /// buckets from one timer, so none has a timer of its own; no queue — over the limit is
        /// answered at once.
        /// </summary>
        public TokenBucketRateLimiterOptions Bucket() => new()
        {
            TokenLimit = PerMinute,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1) / PerMinute,
            QueueLimit = 0,
            AutoReplenishment = false,
        };
    }

    private static RateLimitPartition<string> Partition(HttpContext http, Budget token, Budget anonymous, Budget worker, Budget intake)
    {
        var endpoint = http.GetEndpoint();
        var policy = endpoint?.Metadata.GetMetadata<AccessMetadata>()?.Policy;
        var (key, budget) = policy switch
        {
            // Event intake (a bus bridge posting Koji messages): its own bucket per token.
            _ when endpoint?.Metadata.GetMetadata<EventIntakeBudget>() is not null && Caller.Of(http).User is { } bridge
                => ("event:" + bridge.TokenId.ToString(CultureInfo.InvariantCulture), intake),
            // No endpoint (routing answers 404/405) or a probe: never limited.
            null or AccessPolicy.Public => ("", null),
            // Worker endpoints authenticate later (WorkerAuthFilter): the bucket is the secret's
            // hash, so one worker's flood is its own; without a bearer, the address's.
            AccessPolicy.Worker => AccessMiddleware.BearerToken(http.Request) is { } secret
                ? ("protocol:" + Convert.ToHexString(TokenFormat.Hash(secret)), worker)
                : ("protocol-address:" + AddressKey(http.Connection.RemoteIpAddress), worker),
            AccessPolicy.Registration => ("register:" + AddressKey(http.Connection.RemoteIpAddress), worker),
            _ => Caller.Of(http) switch
            {
                { User: { } user } => ("token:" + user.TokenId.ToString(CultureInfo.InvariantCulture), token),
                // A worker reading what its pool serves (input artifacts): its reads are part of its
                // work, sized as the protocol is, in a bucket apart from the protocol's.
                { Worker: { } w } => ("worker-reads:" + w.Id.ToString(CultureInfo.InvariantCulture), worker),
                _ => ("anonymous:" + AddressKey(http.Connection.RemoteIpAddress), anonymous),
            },
        };
        if (budget is null || budget.PerMinute == 0)
        {
            return RateLimitPartition.GetNoLimiter("");
        }
        http.Items[BudgetKey] = budget;
        return RateLimitPartition.GetTokenBucketLimiter(key, _ => budget.Bucket());
    }

    /// <summary>
    /// The bucket of a client address: IPv4 (also IPv4-mapped IPv6) as it is, IPv6 by its /64 —
    /// one host usually holds a whole /64, and counting each of its addresses apart would let it
    /// multiply its budget at will.
    /// </summary>
    internal static string AddressKey(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private static async ValueTask RejectAsync(OnRejectedContext context, CancellationToken ct)
    {
        var http = context.HttpContext;
        var budget = (Budget)http.Items[BudgetKey]!;
        // The bucket knows when its next token comes; whole seconds, at least one, as Retry-After is.
        var wait = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromMinutes(1) / budget.PerMinute;
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        LogRejected(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Kiln.Server.RateLimits"),
            budget.Name, http.Request.Method, http.Request.Path.Value ?? "", Caller.Of(http).Name);
        await ApiProblems.RateLimited(budget.Name,
            $"rate limit reached: {budget.PerMinute} requests a minute {budget.Per} ({budget.Option}); retry in {seconds} s",
            budget.PerMinute, seconds).ExecuteAsync(http);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Rate limit ({Budget}) refused {Method} {Path} from {Caller}")]
    private static partial void LogRejected(ILogger logger, string budget, string method, string path, string caller);
}

/// <summary>Endpoint metadata: the endpoint takes events in (store, then acknowledge) and counts against the event budget, not the API's.</summary>
public sealed class EventIntakeBudget;
