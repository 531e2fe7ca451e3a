using Kiln.Server.Hosting;
using Kiln.Store.Events;

namespace Kiln.Server.Events;

/// <summary>
/// The storm guard for one pass of the processor (docs/events.md, "Storm guard"): a rule may
/// make at most its burst limit of workflows in its window, a source as a whole at most its own;
/// beyond either, workflows are created held. Counts are read from the database once per rule
/// and source per pass and then kept here — the processor is the only maker of triggered
/// workflows, so counting what it makes is exact.
/// </summary>
public sealed class BurstGuard(EventProcessingStore store, KilnServerOptions options)
{
    private readonly Dictionary<long, int> _rules = [];
    private readonly Dictionary<string, (int Count, int Limit, int Window)> _sources = [];

    /// <summary>Why a new workflow of <paramref name="rule"/> from <paramref name="source"/> must be held, or null when it may run.</summary>
    public async Task<string?> HoldReasonAsync(StoredRule rule, string source, CancellationToken ct)
    {
        var now = store.Now;
        if (!_rules.TryGetValue(rule.Id, out var made))
        {
            made = _rules[rule.Id] = await store.RuleCountAsync(rule.Id, now.AddSeconds(-rule.BurstWindowSeconds), ct);
        }
        if (made >= rule.BurstLimit)
        {
            return $"rule {rule.Name} made {made} workflows in the last {Window(rule.BurstWindowSeconds)} (burst limit {rule.BurstLimit})";
        }
        var s = await SourceAsync(source, ct);
        return s.Count >= s.Limit
            ? $"source {source} made {s.Count} workflows in the last {Window(s.Window)} (source burst limit {s.Limit})"
            : null;
    }

    /// <summary>Counts a workflow just made.</summary>
    public void Made(StoredRule rule, string source)
    {
        _rules[rule.Id] = _rules.GetValueOrDefault(rule.Id) + 1;
        if (_sources.TryGetValue(source, out var s))
        {
            _sources[source] = s with { Count = s.Count + 1 };
        }
    }

    private async Task<(int Count, int Limit, int Window)> SourceAsync(string source, CancellationToken ct)
    {
        if (!_sources.TryGetValue(source, out var s))
        {
            var state = await store.SourceAsync(source, ct);
            var limit = state.BurstLimit ?? options.EventSourceBurstLimit;
            var window = state.BurstWindowSeconds ?? (int)options.EventSourceBurstWindow.TotalSeconds;
            s = _sources[source] = (await store.SourceCountAsync(source, store.Now.AddSeconds(-window), ct), limit, window);
        }
        return s;
    }

    private static string Window(int seconds) => seconds switch
    {
        _ when seconds % 86400 == 0 => $"{seconds / 86400}d",
        _ when seconds % 3600 == 0 => $"{seconds / 3600}h",
        _ when seconds % 60 == 0 => $"{seconds / 60}m",
        _ => $"{seconds}s",
    };
}
