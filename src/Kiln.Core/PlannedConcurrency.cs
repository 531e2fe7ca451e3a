namespace Kiln.Core;

/// <summary>
/// A workflow's concurrency group as planned: the group's name with its references substituted,
/// and whether a newer workflow of the group cancels the running one. Null on a plan whose
/// document has no <c>concurrency</c>, or whose branch is exempt.
/// </summary>
public sealed record PlannedConcurrency(string Group, bool CancelInProgress);
