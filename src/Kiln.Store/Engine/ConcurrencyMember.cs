namespace Kiln.Store.Engine;

/// <summary>A live (running or queued) workflow of a concurrency group, as the concurrency duty reads it.</summary>
/// <param name="SupersededBy">Set once a newer workflow of the group replaced it (its cancel may still be due).</param>
public sealed record ConcurrencyMember(
    long Id, long ProjectId, string Project, string Group, string State, bool CancelInProgress, long? EventId, long? SupersededBy);
