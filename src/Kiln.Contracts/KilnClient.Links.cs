using System.Net.Http.Json;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    /// <summary>Links a forge repository to <paramref name="project"/> (or replaces the link's secret and settings).</summary>
    public Task<RepositoryLinkView> LinkRepositoryAsync(string project, LinkRepositoryRequest request, CancellationToken ct) =>
        SendAsync<RepositoryLinkView>(HttpMethod.Post, $"api/v1/projects/{Uri.EscapeDataString(project)}/links", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<IReadOnlyList<RepositoryLinkView>> ListLinksAsync(string project, CancellationToken ct) =>
        GetAsync<IReadOnlyList<RepositoryLinkView>>($"api/v1/projects/{Uri.EscapeDataString(project)}/links", ct);

    public Task<RepositoryLinkView> GetLinkAsync(long id, CancellationToken ct) => GetAsync<RepositoryLinkView>($"api/v1/links/{id}", ct);

    public Task<ActionResponse> UnlinkAsync(long id, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, $"api/v1/links/{id}", null, DefaultCallTimeout, ct);

    /// <summary>Asks the forge for what Kiln has not seen of link <paramref name="id"/> and feeds it in (may take as long as the forge does).</summary>
    public Task<ReconcileReport> ReconcileAsync(long id, CancellationToken ct) =>
        SendAsync<ReconcileReport>(HttpMethod.Post, $"api/v1/links/{id}/reconcile", null, TransferTimeout, ct);
}
