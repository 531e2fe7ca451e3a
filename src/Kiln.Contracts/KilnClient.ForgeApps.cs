using System.Net.Http.Json;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    /// <summary>Registers (or replaces) the GitHub App of an API URL (farm admins).</summary>
    public Task<ForgeAppView> SetForgeAppAsync(SetForgeAppRequest request, CancellationToken ct) =>
        SendAsync<ForgeAppView>(HttpMethod.Put, "api/v1/forge-apps", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<IReadOnlyList<ForgeAppView>> ListForgeAppsAsync(CancellationToken ct) => GetAsync<IReadOnlyList<ForgeAppView>>("api/v1/forge-apps", ct);

    public Task<ActionResponse> RemoveForgeAppAsync(string apiUrl, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, $"api/v1/forge-apps?apiUrl={Uri.EscapeDataString(apiUrl)}", null, DefaultCallTimeout, ct);
}
