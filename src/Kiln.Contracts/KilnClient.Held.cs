using System.Globalization;
using System.Net.Http.Json;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    /// <summary>Workflows held by the storm guard, oldest first.</summary>
    public Task<Page<HeldWorkflowView>> ListHeldAsync(string? project, string? rule, int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<HeldWorkflowView>>($"api/v1/held/{Query(("project", project), ("rule", rule), ("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    /// <summary>Approves held workflows: each runs, or is queued behind its concurrency group.</summary>
    public Task<HeldActionResponse> ApproveHeldAsync(HeldSelection selection, CancellationToken ct) =>
        SendAsync<HeldActionResponse>(HttpMethod.Post, "api/v1/held/approve", JsonContent.Create(selection, options: Json), DefaultCallTimeout, ct);

    /// <summary>Discards held workflows: cancelled without running.</summary>
    public Task<HeldActionResponse> DiscardHeldAsync(HeldSelection selection, CancellationToken ct) =>
        SendAsync<HeldActionResponse>(HttpMethod.Post, "api/v1/held/discard", JsonContent.Create(selection, options: Json), DefaultCallTimeout, ct);
}
