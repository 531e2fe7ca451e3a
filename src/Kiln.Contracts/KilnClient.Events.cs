using System.Globalization;
using System.Net.Http.Json;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    /// <summary>Sets project <paramref name="project"/>'s trigger rules (a new version).</summary>
    public Task<TriggerSetView> SetTriggersAsync(string project, TriggerSetRequest request, CancellationToken ct) =>
        SendAsync<TriggerSetView>(HttpMethod.Put, $"{TriggersPath(project)}/", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<TriggerSetView> GetTriggersAsync(string project, CancellationToken ct) =>
        GetAsync<TriggerSetView>($"{TriggersPath(project)}/", ct);

    public Task<IReadOnlyList<TriggerVersionView>> TriggerHistoryAsync(string project, CancellationToken ct) =>
        GetAsync<IReadOnlyList<TriggerVersionView>>($"{TriggersPath(project)}/history", ct);

    /// <summary>Runs rule <paramref name="rule"/> by hand: the manual event stored (processed like any other).</summary>
    public Task<EventAccepted> RunTriggerAsync(string project, string rule, TriggerRunRequest request, CancellationToken ct) =>
        SendAsync<EventAccepted>(HttpMethod.Post, $"{TriggersPath(project)}/{Uri.EscapeDataString(rule)}/run", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<Page<EventSummary>> ListEventsAsync(string? source, string? state, string? project, int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<EventSummary>>($"api/v1/events/{Query(("source", source), ("state", state), ("project", project), ("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    public Task<EventView> GetEventAsync(long id, CancellationToken ct) => GetAsync<EventView>($"api/v1/events/{id}", ct);

    /// <summary>Pauses (or with <paramref name="paused"/> false, resumes) a source, a link or a rule.</summary>
    public Task<EventPauseView> PauseEventsAsync(EventPauseRequest target, bool paused, CancellationToken ct) =>
        SendAsync<EventPauseView>(HttpMethod.Post, paused ? "api/v1/events/pause" : "api/v1/events/resume", JsonContent.Create(target, options: Json), DefaultCallTimeout, ct);

    private static string TriggersPath(string project) => $"api/v1/projects/{Uri.EscapeDataString(project)}/triggers";
}
