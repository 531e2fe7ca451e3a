namespace Kiln.Contracts;

/// <summary>A workflow held by the storm guard (docs/concurrency.md): stored whole, nothing of it claimable until approved.</summary>
/// <param name="Rule">The trigger rule that made it, if a rule did.</param>
/// <param name="ConcurrencyGroup">Its concurrency group: approved, it is queued behind the group's running workflow.</param>
public sealed record HeldWorkflowView(
    long Id, string Name, string Project, string? Rule, long? EventId, string? InputKey, string? ConcurrencyGroup, int WorkRequests, DateTimeOffset CreatedAt);

/// <summary>
/// Which held workflows to approve or discard: the ones named in <see cref="Ids"/>, or — optionally
/// narrowed by <see cref="Project"/> and <see cref="Rule"/> — the <see cref="First"/> oldest, or
/// <see cref="All"/> of them. Exactly one of ids, first and all.
/// </summary>
public sealed record HeldSelection
{
    public List<long>? Ids { get; init; }
    public string? Project { get; init; }
    public string? Rule { get; init; }
    public int? First { get; init; }
    public bool? All { get; init; }
}

/// <summary>What an approval or discard did.</summary>
/// <param name="Running">Approved workflows that may run now.</param>
/// <param name="Queued">Approved workflows with a concurrency group: queued behind the group's running one.</param>
/// <param name="Discarded">Discarded (cancelled) workflows.</param>
public sealed record HeldActionResponse(IReadOnlyList<long> Running, IReadOnlyList<long> Queued, IReadOnlyList<long> Discarded, string Message);
