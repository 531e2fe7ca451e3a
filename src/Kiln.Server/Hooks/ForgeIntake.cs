using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Events;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Hooks;

/// <summary>
/// A forge's webhook delivery, from request to answer: the body read whole (at most
/// <see cref="MaxBodyBytes"/>), the repository it names looked up among the repository links,
/// the signature verified over the exact bytes in constant time against each link's secret, the
/// payload read into <see cref="EventFacts"/>, and the event stored under its delivery key
/// (<see cref="EventStore.InsertAsync"/>) — then the answer: 202, or 200 with the first event's id
/// for a delivery stored before. Nothing else happens before the answer: the rules run afterwards,
/// in the leader's event duty. A delivery that fails (bad or missing signature, unknown
/// repository, malformed, too large) is answered 4xx and stored as a rejected security event
/// without a delivery key (a forgery must never take the key of the real delivery), never processed.
/// </summary>
public sealed partial class ForgeIntake(RepositoryLinkStore links, EventStore events, TimeProvider time, ILogger<ForgeIntake> logger)
{
    /// <summary>Largest delivery accepted: GitHub caps its payloads at 25 MB.</summary>
    public const int MaxBodyBytes = 25 * 1024 * 1024;

    /// <summary>How much of a rejected delivery's body is kept (a forged or misdirected one needs no more to be understood; a flood of them fills nothing).</summary>
    public const int KeptRejectedBodyBytes = 64 * 1024;

    /// <summary>Longest delivery id (events.delivery_key).</summary>
    public const int MaxDeliveryKey = 200;

    /// <summary>
    /// Rejected deliveries stored per client address (IPv6: its /64) a minute. The hook endpoints are
    /// public, so without a bound anyone could make Kiln write a row per request; beyond it a
    /// rejection is answered the same but only logged. Counted per replica.
    /// </summary>
    public const int StoredRejectionsPerMinute = 60;

    private readonly System.Threading.RateLimiting.PartitionedRateLimiter<string> _rejections =
        System.Threading.RateLimiting.PartitionedRateLimiter.Create<string, string>(address =>
            System.Threading.RateLimiting.RateLimitPartition.GetTokenBucketLimiter(address, _ => new System.Threading.RateLimiting.TokenBucketRateLimiterOptions
            {
                TokenLimit = StoredRejectionsPerMinute,
                TokensPerPeriod = 1,
                ReplenishmentPeriod = TimeSpan.FromMinutes(1) / StoredRejectionsPerMinute,
                AutoReplenishment = true,
                QueueLimit = 0,
            }));

    internal async Task<IResult> ReceiveAsync(ForgeDialect dialect, HttpContext http)
    {
        var ct = http.RequestAborted;
        var request = http.Request;
        var delivery = new Delivery(dialect, Kept(dialect, request.Headers), http.Connection.RemoteIpAddress?.ToString());
        var eventName = dialect.EventName(request.Headers);
        if (eventName is not null && (eventName.Length > 100 || SafeText.Problem(eventName, multiline: false) is not null))
        {
            return await RejectAsync(delivery, null, StatusCodes.Status400BadRequest, dialect.EventHeader, "is not a single-line event name of at most 100 characters", ct);
        }
        delivery.Type = dialect.TypeForRecord(eventName);

        var (body, size) = await HookBody.ReadAsync(http, MaxBodyBytes, ct);
        if (body is null)
        {
            delivery.Size = (int)Math.Min(size, int.MaxValue);
            return await RejectAsync(delivery, null, StatusCodes.Status413PayloadTooLarge, "body",
                $"is larger than {MaxBodyBytes} bytes, the most Kiln accepts (GitHub's own cap)", ct);
        }
        delivery.Body = body;
        if (eventName is null)
        {
            return await RejectAsync(delivery, null, StatusCodes.Status400BadRequest, dialect.EventHeader, "is missing: this is not a webhook delivery", ct);
        }
        var key = dialect.DeliveryKey(request.Headers);
        if (key is null || key.Length > MaxDeliveryKey || SafeText.Problem(key, multiline: false) is not null)
        {
            return await RejectAsync(delivery, null, StatusCodes.Status400BadRequest, dialect.DeliveryHeader,
                key is null ? "is missing: without a delivery id a redelivery could not be recognised" : $"must be single-line text of at most {MaxDeliveryKey} characters", ct);
        }
        if (request.ContentType is { } type && (!MediaTypeHeaderValue.TryParse(type, out var media) || media.MediaType != "application/json"))
        {
            return await RejectAsync(delivery, null, StatusCodes.Status415UnsupportedMediaType, "Content-Type",
                $"is '{Cut(type)}'; set the hook's content type to application/json", ct);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            return await RejectAsync(delivery, null, StatusCodes.Status400BadRequest, "body", $"is not JSON ({Cut(e.Message)})", ct);
        }
        using (document)
        {
            var root = document.RootElement;
            string? repository, owner;
            try
            {
                (repository, owner) = dialect.Target(eventName, root);
            }
            catch (MalformedPayloadException e)
            {
                return await RejectAsync(delivery, null, StatusCodes.Status400BadRequest, e.Field, e.Reason, ct);
            }
            delivery.Facts = new EventFacts { Repository = repository };
            if (repository is null && owner is null)
            {
                return await RejectAsync(delivery, null, StatusCodes.Status400BadRequest, "repository", "the payload names no repository", ct);
            }
            var candidates = await links.CandidatesAsync(dialect.Source, repository, owner, ct);
            if (candidates.Count == 0)
            {
                return await RejectAsync(delivery, null, StatusCodes.Status404NotFound, "repository",
                    $"no project links {dialect.Title} repository '{repository ?? owner + "/*"}' (a project owner links it: kiln repo link PROJECT {dialect.Source} {repository ?? "OWNER/NAME"})", ct);
            }
            var verified = new List<long>();
            try
            {
                if (!dialect.Signed(request.Headers))
                {
                    return await RejectAsync(delivery, null, StatusCodes.Status401Unauthorized, "signature",
                        "the delivery carries no signature: give the hook the link's secret", ct);
                }
                var now = time.GetUtcNow();
                foreach (var link in candidates)
                {
                    if (dialect.Verify(request.Headers, body, link.Secret, now))
                    {
                        verified.Add(link.Id);
                    }
                }
            }
            finally
            {
                foreach (var link in candidates)
                {
                    CryptographicOperations.ZeroMemory(link.Secret);
                }
            }
            if (verified.Count == 0)
            {
                return await RejectAsync(delivery, null, StatusCodes.Status401Unauthorized, "signature",
                    $"the signature does not verify with the secret of any link of '{repository ?? owner + "/*"}'", ct);
            }

            ForgeReading reading;
            try
            {
                reading = dialect.Read(eventName, root);
            }
            catch (MalformedPayloadException e)
            {
                return await RejectAsync(delivery, verified, StatusCodes.Status400BadRequest, e.Field, e.Reason, ct);
            }
            var state = reading.IgnoredBecause is null ? EventStates.Received : EventStates.Ignored;
            IReadOnlyList<EventEffect> effects = reading.IgnoredBecause is { } why ? [new EventEffect(EventEffectKinds.Ignored, why)] : [];
            var accepted = await events.InsertAsync(
                new NewEvent(dialect.Source, key, reading.Type, state, reading.Facts, delivery.Headers, body, verified, delivery.Remote, effects), ct);
            if (accepted.Duplicate)
            {
                LogRepeat(logger, dialect.Title, key, accepted.EventId);
                return TypedResults.Ok(accepted);
            }
            await links.TouchAsync(verified, ct);
            return TypedResults.Accepted($"/api/v1/events/{accepted.EventId}", accepted);
        }
    }

    /// <summary>The 4xx, after storing the delivery as a rejected event (a security event: never processed, no delivery key).</summary>
    private async Task<IResult> RejectAsync(Delivery delivery, IReadOnlyList<long>? linkIds, int status, string field, string reason, CancellationToken ct)
    {
        var message = $"{field}: {reason}";
        var address = System.Net.IPAddress.TryParse(delivery.Remote, out var ip) ? Security.RateLimits.AddressKey(ip) : "unknown";
        using var lease = _rejections.AttemptAcquire(address);
        if (!lease.IsAcquired)
        {
            LogRejectedUnstored(logger, delivery.Dialect.Title, delivery.Remote ?? "unknown", status, message, StoredRejectionsPerMinute);
            return TypedResults.Problem(
                title: StatusText(status), detail: message, statusCode: status,
                extensions: new Dictionary<string, object?> { ["errors"] = new[] { new { field, message = reason } } });
        }
        var kept = delivery.Body is { } body ? (body.Length <= KeptRejectedBodyBytes ? body : body[..KeptRejectedBodyBytes]) : null;
        var stored = await events.InsertAsync(new NewEvent(
            delivery.Dialect.Source, null, delivery.Type, EventStates.Rejected, delivery.Facts, delivery.Headers, kept, linkIds ?? [], delivery.Remote,
            [new EventEffect(EventEffectKinds.Rejected, $"{StatusText(status)}: {message}")], delivery.Body?.Length ?? delivery.Size), ct);
        LogRejected(logger, delivery.Dialect.Title, delivery.Remote ?? "unknown", status, message, stored.EventId);
        return TypedResults.Problem(
            title: StatusText(status), detail: message, statusCode: status,
            extensions: new Dictionary<string, object?>
            {
                ["eventId"] = stored.EventId,
                ["errors"] = new[] { new { field, message = reason } },
            });
    }

    private static string StatusText(int status) => status switch
    {
        StatusCodes.Status401Unauthorized => "Bad signature",
        StatusCodes.Status404NotFound => "Unknown repository",
        StatusCodes.Status413PayloadTooLarge => "The delivery is too large",
        StatusCodes.Status415UnsupportedMediaType => "Unsupported media type",
        _ => "Malformed delivery",
    };

    /// <summary>The headers kept with the event: the forge's event and delivery names, never a signature or token; cleaned and cut.</summary>
    private static Dictionary<string, string> Kept(ForgeDialect dialect, IHeaderDictionary headers)
    {
        var kept = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in dialect.KeptHeaders)
        {
            if (headers.TryGetValue(name, out var values) && values.Count > 0 && values[0] is { } value)
            {
                kept[name] = Cut(SafeText.Clean(value, multiline: false));
            }
        }
        return kept;
    }

    private static string Cut(string text) => text.Length > 300 ? text[..300] + "…" : text;

    /// <summary>What is known of a delivery so far, for its record if it is rejected.</summary>
    private sealed class Delivery(ForgeDialect dialect, Dictionary<string, string> headers, string? remote)
    {
        public ForgeDialect Dialect { get; } = dialect;
        public Dictionary<string, string> Headers { get; } = headers;
        public string? Remote { get; } = remote;
        public string Type { get; set; } = "unknown";
        public EventFacts Facts { get; set; } = new();
        public byte[]? Body { get; set; }
        public int Size { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rejected a {Forge} delivery from {Address} ({Status}): {Reason}; not stored: the address passed {Limit} stored rejections a minute")]
    private static partial void LogRejectedUnstored(ILogger logger, string forge, string address, int status, string reason, int limit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rejected a {Forge} delivery from {Address} ({Status}): {Reason}; stored as event {EventId}")]
    private static partial void LogRejected(ILogger logger, string forge, string address, int status, string reason, long eventId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Forge} delivery {Key} was stored before, as event {EventId}")]
    private static partial void LogRepeat(ILogger logger, string forge, string key, long eventId);
}
