using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kiln.Server.Hosting;
using Kiln.Server.Outbox.Forges;
using Kiln.Store.Engine;
using Kiln.Store.Events;
using Kiln.Store.Outbox;

namespace Kiln.Server.Outbox.Webhooks;

/// <summary>
/// The outbox's sender for outgoing webhooks (hook-workflow, hook-job, hook-event; see
/// docs/outgoing-webhooks.md): one POST per write, signed as the Standard Webhooks specification
/// says (<c>webhook-id</c>, <c>webhook-timestamp</c>, <c>webhook-signature</c>). The webhook-id is
/// the target and a short hash of the state sent, so a redelivery of a state reuses it and a new
/// state gets a new one. A redelivery sends the stored body under its stored id, freshly signed.
/// Redirects are not followed (the outbox's client does not follow them): the URL is the project
/// owner's choice, and a receiver must not bounce Kiln's requests to another host.
/// </summary>
public sealed class WebhookSender(
    WebhookSubscriptionStore subscriptions, QueryStore queries, EventQueries events, OutboxHttp http, KilnServerOptions options, TimeProvider time)
    : IOutboxSender
{
    /// <summary>Tries of one state before it is given up as failed.</summary>
    public const int MaxAttempts = 12;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public bool Handles(string kind) => kind is "hook-workflow" or "hook-job" or "hook-event";

    public async Task<SendAnswer> SendAsync(OutboxItem item, CancellationToken ct)
    {
        if (item.SubscriptionId is not { } subscriptionId || await subscriptions.ForSendingAsync(subscriptionId, ct) is not { } hook)
        {
            return new SendAnswer(SendOutcome.Failed, null, "the webhook subscription was removed");
        }
        if (!hook.Enabled)
        {
            return new SendAnswer(SendOutcome.Failed, null, "the webhook subscription is disabled");
        }
        string messageId;
        string? eventType;
        byte[] body;
        if (item.RedeliverId is { } redeliver && await subscriptions.DeliveryAsync(redeliver, ct) is { Body: { } stored } delivery)
        {
            (messageId, eventType, body) = (delivery.MessageId ?? MessageId(item.TargetId, delivery.State), delivery.EventType, stored);
        }
        else
        {
            var payload = await PayloadAsync(item, hook, ct);
            if (payload is null)
            {
                return new SendAnswer(SendOutcome.Failed, null, "the workflow, job or event of this webhook no longer exists");
            }
            (eventType, body) = payload.Value;
            messageId = MessageId(item.TargetId, item.Desired);
        }
        var answer = await PostAsync(hook, messageId, body, ct);
        answer = answer with { Method = "POST", Url = hook.Url, Body = body, MessageId = messageId, EventType = eventType };
        if (answer.StatusCode == (int)HttpStatusCode.Gone)
        {
            await subscriptions.DisableAsync(hook.Id, hook.Project, "the receiver answered 410 Gone", CancellationToken.None);
            return answer with { Outcome = SendOutcome.Failed, Answer = $"{answer.Answer} (subscription disabled)" };
        }
        if (answer.Outcome is SendOutcome.Retry or SendOutcome.Paused && item.Attempts + 1 >= MaxAttempts)
        {
            return answer with { Outcome = SendOutcome.Failed, PauseFor = null, Answer = $"gave up after {MaxAttempts} attempts: {answer.Answer}" };
        }
        return answer;
    }

    /// <summary>msg_ + the target id + _ + the first 12 hex digits of SHA-256 of the state.</summary>
    public static string MessageId(long targetId, string state) =>
        $"msg_{targetId.ToString(CultureInfo.InvariantCulture)}_{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(state)))[..12]}";

    /// <summary>v1, + base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}" keyed with the secret's bytes (base64 after whsec_).</summary>
    public static string Signature(string secret, string messageId, long timestamp, byte[] body)
    {
        var key = Convert.FromBase64String(secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret[6..] : secret);
        var prefix = Encoding.UTF8.GetBytes($"{messageId}.{timestamp.ToString(CultureInfo.InvariantCulture)}.");
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content, prefix.Length);
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content));
    }

    private async Task<SendAnswer> PostAsync(WebhookForSending hook, string messageId, byte[] body, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var timestamp = now.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, hook.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("webhook-id", messageId);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("webhook-signature", Signature(hook.Secret, messageId, timestamp, body));
        request.Headers.TryAddWithoutValidation("User-Agent", "Kiln");
        using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var text = await ForgeAnswers.BodyAsync(response, ct);
        var code = (int)response.StatusCode;
        var line = $"{code} {response.ReasonPhrase}{(text.Length > 0 ? ": " + text : "")}";
        if (code is >= 200 and < 300)
        {
            return new SendAnswer(SendOutcome.Acknowledged, code, line);
        }
        if (code is 429 or 503 && ForgeAnswers.RetryAfter(response, now) is { } wait)
        {
            var pause = wait > ForgeAnswers.MaxPause ? ForgeAnswers.MaxPause : wait;
            return new SendAnswer(SendOutcome.Paused, code, line, PauseFor: pause, PauseReason: $"the receiver answered {code} with retry-after");
        }
        if (code is >= 300 and < 400)
        {
            line += " (redirects are not followed)";
        }
        return new SendAnswer(SendOutcome.Retry, code, line);
    }

    private async Task<(string Type, byte[] Body)?> PayloadAsync(OutboxItem item, WebhookForSending hook, CancellationToken ct)
    {
        var baseUrl = options.PublicBaseUrl.TrimEnd('/');
        string type;
        object data;
        switch (item.Kind)
        {
            case "hook-workflow":
                if (item.WorkflowId is not { } workflowId || await queries.GetWorkflowAsync(workflowId, ct) is not { } w)
                {
                    return null;
                }
                type = item.Desired == "held" ? "workflow.held" : "workflow.updated";
                data = new { id = w.Id, name = w.Name, project = w.Project, state = w.State, phase = item.Desired, counts = w.Counts, url = $"{baseUrl}/api/v1/workflows/{w.Id}" };
                break;
            case "hook-job":
                if (item.WorkRequestId is not { } jobId || await queries.GetWorkRequestAsync(jobId, ct) is not { } j)
                {
                    return null;
                }
                type = "job.updated";
                var s = j.Summary;
                data = new { id = s.Id, workflowId = s.WorkflowId, name = s.Name, state = s.State, attempt = s.Attempt, url = $"{baseUrl}/api/v1/work-requests/{s.Id}" };
                break;
            default:
                if (item.EventId is not { } eventId || await events.GetAsync(eventId, true, [], ct) is not { } e)
                {
                    return null;
                }
                type = "event.processed";
                var effects = e.Effects.Where(x => x.Project is null || x.Project == hook.Project)
                    .Select(x => new { kind = x.Kind, message = x.Message, workflowId = x.WorkflowId, rule = x.Rule }).ToList();
                data = new { id = e.Id, source = e.Source, type = e.Type, state = e.State, effects };
                break;
        }
        var body = JsonSerializer.SerializeToUtf8Bytes(new { type, timestamp = time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture), data }, Json);
        return (type, body);
    }
}
