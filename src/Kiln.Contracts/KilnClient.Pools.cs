using System.Globalization;
using System.Net.Http.Json;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    // ---- worker pools, registration tokens, approval, project trust ----

    public Task<Page<PoolView>> ListPoolsAsync(int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<PoolView>>($"api/v1/pools/{Query(("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    public Task<PoolView> GetPoolAsync(string name, CancellationToken ct) => GetAsync<PoolView>($"api/v1/pools/{Uri.EscapeDataString(name)}", ct);

    public Task<PoolView> CreatePoolAsync(PoolRequest pool, CancellationToken ct) =>
        SendAsync<PoolView>(HttpMethod.Post, "api/v1/pools/", JsonContent.Create(pool, options: Json), DefaultCallTimeout, ct);

    /// <summary>Changes the fields of <paramref name="change"/> that are set; the others stay.</summary>
    public Task<PoolView> UpdatePoolAsync(string name, PoolRequest change, CancellationToken ct) =>
        SendAsync<PoolView>(HttpMethod.Patch, $"api/v1/pools/{Uri.EscapeDataString(name)}", JsonContent.Create(change, options: Json), DefaultCallTimeout, ct);

    public Task<ActionResponse> DeletePoolAsync(string name, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, $"api/v1/pools/{Uri.EscapeDataString(name)}", null, DefaultCallTimeout, ct);

    /// <summary>A new registration token of <paramref name="pool"/>; its text is in the answer only.</summary>
    public Task<CreatedRegistrationToken> CreateRegistrationTokenAsync(string pool, CreateRegistrationTokenRequest request, CancellationToken ct) =>
        SendAsync<CreatedRegistrationToken>(HttpMethod.Post, $"api/v1/pools/{Uri.EscapeDataString(pool)}/registration-tokens",
            JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<Page<RegistrationTokenView>> ListRegistrationTokensAsync(string? pool, int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<RegistrationTokenView>>($"api/v1/registration-tokens/{Query(("pool", pool), ("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    public Task<ActionResponse> RevokeRegistrationTokenAsync(long id, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, $"api/v1/registration-tokens/{id}", null, DefaultCallTimeout, ct);

    /// <summary>Lets a worker of a pool that requires approval claim work.</summary>
    public Task<ActionResponse> ApproveWorkerAsync(string name, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/workers/{Uri.EscapeDataString(name)}/approve", null, DefaultCallTimeout, ct);

    /// <summary>Trusts (or, with <paramref name="trusted"/> false, stops trusting) a pool with a project's secrets.</summary>
    public Task<ActionResponse> SetProjectTrustAsync(string project, string pool, bool trusted, CancellationToken ct) =>
        SendAsync<ActionResponse>(trusted ? HttpMethod.Put : HttpMethod.Delete,
            $"api/v1/projects/{Uri.EscapeDataString(project)}/trusted-pools/{Uri.EscapeDataString(pool)}", null, DefaultCallTimeout, ct);
}
