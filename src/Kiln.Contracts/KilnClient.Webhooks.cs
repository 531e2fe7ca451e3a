using System.Net.Http.Json;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    /// <summary>Subscribes a URL to <paramref name="project"/>'s changes; the answer holds the signing secret, shown this once.</summary>
    public Task<WebhookSecretView> CreateWebhookAsync(string project, CreateWebhookRequest request, CancellationToken ct) =>
        SendAsync<WebhookSecretView>(HttpMethod.Post, $"api/v1/projects/{Uri.EscapeDataString(project)}/webhooks", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<IReadOnlyList<WebhookView>> ListWebhooksAsync(string project, CancellationToken ct) =>
        GetAsync<IReadOnlyList<WebhookView>>($"api/v1/projects/{Uri.EscapeDataString(project)}/webhooks", ct);

    public Task<WebhookView> GetWebhookAsync(long id, CancellationToken ct) => GetAsync<WebhookView>($"api/v1/webhooks/{id}", ct);

    public Task<WebhookView> UpdateWebhookAsync(long id, UpdateWebhookRequest request, CancellationToken ct) =>
        SendAsync<WebhookView>(HttpMethod.Patch, $"api/v1/webhooks/{id}", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<ActionResponse> DeleteWebhookAsync(long id, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, $"api/v1/webhooks/{id}", null, DefaultCallTimeout, ct);

    /// <summary>A new signing secret for webhook <paramref name="id"/>, shown this once.</summary>
    public Task<WebhookSecretView> RotateWebhookSecretAsync(long id, CancellationToken ct) =>
        SendAsync<WebhookSecretView>(HttpMethod.Post, $"api/v1/webhooks/{id}/rotate-secret", null, DefaultCallTimeout, ct);

    /// <summary>The webhook's deliveries, newest first.</summary>
    public Task<Page<WebhookDeliveryView>> ListWebhookDeliveriesAsync(long id, int? limit, string? after, CancellationToken ct)
    {
        var query = new List<string>();
        if (limit is { } n)
        {
            query.Add($"limit={n}");
        }
        if (after is not null)
        {
            query.Add($"after={Uri.EscapeDataString(after)}");
        }
        return GetAsync<Page<WebhookDeliveryView>>($"api/v1/webhooks/{id}/deliveries{(query.Count > 0 ? "?" + string.Join('&', query) : "")}", ct);
    }

    /// <summary>Sends a delivery again under its webhook-id.</summary>
    public Task<ActionResponse> RedeliverWebhookAsync(long deliveryId, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/webhook-deliveries/{deliveryId}/redeliver", null, DefaultCallTimeout, ct);
}
