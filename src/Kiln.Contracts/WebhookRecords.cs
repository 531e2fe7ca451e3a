namespace Kiln.Contracts;

/// <summary>Creates an outgoing webhook of a project (<c>POST /api/v1/projects/{name}/webhooks</c>).</summary>
/// <param name="Url">Where Kiln POSTs: http or https, at most 2000 characters.</param>
/// <param name="Events">Any of workflow, job, event; default all three.</param>
/// <param name="Description">At most 200 characters.</param>
public sealed record CreateWebhookRequest(string? Url, IReadOnlyList<string>? Events = null, string? Description = null);

/// <summary>Changes an outgoing webhook (<c>PATCH /api/v1/webhooks/{id}</c>); a field left out stays as it is.</summary>
public sealed record UpdateWebhookRequest(bool? Enabled = null, IReadOnlyList<string>? Events = null, string? Url = null, string? Description = null);

/// <summary>An outgoing webhook as its project's owners see it: never its secret.</summary>
public sealed record WebhookView(
    long Id, string Project, string Url, IReadOnlyList<string> Events, bool Enabled, string? Description,
    DateTimeOffset CreatedAt, string? CreatedBy, string SecretKeyId);

/// <summary>The answer to a create or a rotate: the subscription and its signing secret (whsec_…), shown this once only.</summary>
public sealed record WebhookSecretView(WebhookView Webhook, string Secret);

/// <summary>One delivery attempt of a webhook: what was sent and what the receiver answered.</summary>
/// <param name="MessageId">The webhook-id header (msg_…), the same for a redelivery of the same state.</param>
/// <param name="State">The state sent (a workflow phase, job state#attempt, event state).</param>
/// <param name="Answer">The receiver's answer (2xx), its status and the start of its body.</param>
/// <param name="Error">Why it was not acknowledged (a non-2xx answer, a connection failure).</param>
/// <param name="RedeliveryOf">The delivery this one sent again.</param>
public sealed record WebhookDeliveryView(
    long Id, long TargetId, string? MessageId, string? EventType, string State, int? StatusCode, string? Answer, string? Error,
    int DurationMs, DateTimeOffset AttemptedAt, long? RedeliveryOf);
