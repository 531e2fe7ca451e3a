using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Api;
using Kiln.Server.Security;
using Kiln.Store.Events;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Hooks.Koji;

/// <summary>
/// <c>POST /api/v1/events/koji</c>: a Koji tag message in fedora-messaging's JSON form
/// (<c>{id, topic, headers, body}</c>, what <c>fedora-messaging</c> serialises a message to), for a
/// bridge that reads the bus itself. Store, then acknowledge: the message goes into
/// <c>events</c> under its id (202), a message already stored answers the first event (200), and
/// trigger rules see it afterwards. Posting is a farm admin's (<see cref="AccessPolicy.Admin"/>):
/// a Koji message is farm-wide — any project's rules may match it — so no project's member may
/// speak for the build system. docs/koji.md says why and how a bridge gets its token.
/// </summary>
public static class KojiEventsApi
{
    /// <summary>Largest request: the envelope around a body of at most <see cref="KojiMessage.MaxBodyBytes"/>.</summary>
    public const int MaxRequestBytes = KojiMessage.MaxBodyBytes + 16 * 1024;

    private static readonly string[] EnvelopeFields = ["id", "topic", "headers", "body", "queue", "priority"];

    /// <summary>fedora-messaging headers kept with the event (the rest are not Kiln's business).</summary>
    internal static readonly string[] KeptHeaders = ["fedora_messaging_schema", "fedora_messaging_severity", "sent-at"];

    public static IEndpointRouteBuilder MapKojiEventsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/api/v1/events/koji", PostAsync)
            .WithTags("Events")
            .Allow(AccessPolicy.Admin)
            .WithMetadata(new EventIntakeBudget())
            .Accepts<KojiMessageEnvelope>("application/json")
            .Produces<EventAccepted>(StatusCodes.Status202Accepted)
            .Produces<EventAccepted>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .WithSummary("Store a Koji buildsys.tag/buildsys.untag message (fedora-messaging JSON: id, topic, body): 202 when new, 200 with the first event for an id already stored. Farm admins only.");
        return routes;
    }

    private static async Task<IResult> PostAsync(HttpRequest request, EventStore events, CancellationToken ct)
    {
        if (request.ContentLength > MaxRequestBytes)
        {
            return ApiProblems.TooLarge(MaxRequestBytes);
        }
        if (request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return ApiProblems.Status(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", $"send the message as application/json, not {contentType}");
        }
        var bytes = await ReadCappedAsync(request.Body, MaxRequestBytes, ct);
        if (bytes is null)
        {
            return ApiProblems.TooLarge(MaxRequestBytes);
        }
        if (bytes.Length == 0)
        {
            return ApiProblems.Invalid("", "the request needs a JSON body: {\"id\": …, \"topic\": …, \"body\": {…}}");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 32, AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            var cut = e.Message.IndexOf(" Path:", StringComparison.Ordinal);
            return ApiProblems.Invalid("", $"invalid JSON: {(cut > 0 ? e.Message[..cut] : e.Message)}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return ApiProblems.Invalid("", "the body must be a JSON object: {\"id\": …, \"topic\": …, \"body\": {…}}");
            }
            var errors = new List<ValidationError>();
            foreach (var property in root.EnumerateObject())
            {
                if (!EnvelopeFields.Contains(property.Name))
                {
                    errors.Add(new(SafeText.Clean(property.Name, multiline: false), $"unknown property; a message has {string.Join(", ", EnvelopeFields)}"));
                }
            }
            var id = String(root, "id", errors);
            if (errors.All(e => e.Field != "id") && KojiMessage.IdProblem(id) is { } idProblem)
            {
                errors.Add(new("id", idProblem));
            }
            var topic = String(root, "topic", errors);
            if (errors.All(e => e.Field != "topic") && KojiMessage.TopicProblem(topic) is { } topicProblem)
            {
                errors.Add(new("topic", topicProblem));
            }
            var headers = Headers(root, errors);
            if (!root.TryGetProperty("body", out var body))
            {
                errors.Add(new("body", "is required (the Koji message body: build_id, name, version, release, tag, …)"));
            }
            if (errors.Count > 0)
            {
                return ApiProblems.Invalid(errors);
            }
            var reading = KojiMessage.Read(topic!, body, "body.");
            if (!reading.IsValid)
            {
                return ApiProblems.Invalid(reading.Errors);
            }
            headers["topic"] = topic!;
            headers["via"] = "rest";
            if (request.Headers.UserAgent.ToString() is { Length: > 0 and <= 200 } agent && SafeText.Problem(agent, multiline: false) is null)
            {
                headers["user-agent"] = agent;
            }
            var accepted = await events.InsertAsync(KojiEvents.New(id!, topic!, reading, headers, bytes, request.HttpContext.Connection.RemoteIpAddress?.ToString()), ct);
            return accepted.Duplicate
                ? TypedResults.Ok(accepted)
                : TypedResults.Accepted($"/api/v1/events/{accepted.EventId}", accepted);
        }
    }

    private static string? String(JsonElement root, string name, List<ValidationError> errors)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add(new(name, "must be a string"));
            return null;
        }
        return value.GetString();
    }

    private static Dictionary<string, string> Headers(JsonElement root, List<ValidationError> errors)
    {
        var kept = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!root.TryGetProperty("headers", out var headers) || headers.ValueKind == JsonValueKind.Null)
        {
            return kept;
        }
        if (headers.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new("headers", "must be a JSON object"));
            return kept;
        }
        foreach (var name in KeptHeaders)
        {
            if (headers.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
                && value.GetString() is { Length: <= 200 } text && SafeText.Problem(text, multiline: false) is null)
            {
                kept[name] = text;
            }
        }
        return kept;
    }

    /// <summary>The whole body, or null when it is longer than <paramref name="max"/> (never buffering more than that).</summary>
    internal static async Task<byte[]?> ReadCappedAsync(Stream body, int max, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > max)
            {
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}

/// <summary>The fedora-messaging JSON form of a message, as <c>POST /api/v1/events/koji</c> takes it (documentation only: the handler reads it field by field to name each problem).</summary>
/// <param name="Id">The message id (a UUID): the event's delivery key, so a repeat stores nothing.</param>
/// <param name="Topic">…buildsys.tag or …buildsys.untag (e.g. org.fedoraproject.prod.buildsys.tag); another topic is stored as ignored.</param>
/// <param name="Body">Koji's message body: build_id, name, version, release, tag (required), tag_id, user, owner, instance.</param>
/// <param name="Headers">fedora-messaging headers; fedora_messaging_schema, fedora_messaging_severity and sent-at are kept.</param>
/// <param name="Queue">Accepted and ignored (fedora-messaging writes it).</param>
/// <param name="Priority">Accepted and ignored.</param>
public sealed record KojiMessageEnvelope(string Id, string Topic, JsonElement Body, JsonElement? Headers = null, string? Queue = null, int? Priority = null);
