using Kiln.Contracts;

namespace Kiln.Store.Events;

/// <summary>A trigger rule as the processor reads it.</summary>
public sealed record StoredRule(
    long Id, long ProjectId, string Project, string Name, bool Active, bool Paused, TriggerRuleDocument Definition,
    string WorkflowJson, string WorkflowSha256, DateTimeOffset? LastScheduledAt)
{
    /// <summary>The version of the rules file that last set it.</summary>
    public int Version { get; init; }

    public int BurstLimit => Definition.Burst?.Limit ?? Kiln.Core.Triggers.TriggerRules.DefaultBurstLimit;

    public int BurstWindowSeconds => Definition.Burst?.Window is { } w && Kiln.Core.Triggers.TriggerRules.WindowSeconds(w) is { } s
        ? s : Kiln.Core.Triggers.TriggerRules.DefaultBurstWindowSeconds;
}
