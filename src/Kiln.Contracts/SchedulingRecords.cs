namespace Kiln.Contracts;

/// <summary>A project: the unit of fairness and ownership.</summary>
/// <param name="Weight">Share of the farm relative to other projects (1–1000).</param>
/// <param name="BasePriority">Added to the priority of every job submitted from now on.</param>
/// <param name="MaxRunning">Cap on concurrently running work requests; null for none.</param>
/// <param name="Running">Work requests running now, at most <see cref="CountCap"/>.</param>
/// <param name="Pending">Work requests waiting for a worker now, at most <see cref="CountCap"/>.</param>
/// <param name="CountsCapped">True when <see cref="Running"/> or <see cref="Pending"/> stopped at <see cref="CountCap"/>: there are more ("10,000+").</param>
/// <param name="Visibility"><c>public</c> (anyone may read it) or <c>private</c> (its members only).</param>
/// <param name="Description">The owners' description of the project.</param>
/// <param name="TrustedPools">Worker pools the project trusts with its secrets (shown by <c>GET /api/v1/projects/{name}</c>, not in lists).</param>
public sealed record ProjectView(
    long Id, string Name, int Weight, int BasePriority, int? MaxRunning, int Running, int Pending, DateTimeOffset CreatedAt, bool CountsCapped = false,
    string Visibility = "public", string Description = "",
    IReadOnlyList<string>? TrustedPools = null)
{
    /// <summary>Counts stop here, so listing projects costs the same with a million pending rows as with ten thousand.</summary>
    public const int CountCap = 10_000;
}

/// <summary>Settings of a project; PUT creates the project or replaces its settings.</summary>
public sealed record ProjectSettings(int? Weight, int? BasePriority, int? MaxRunning);

/// <summary>An operator's change of priority for waiting work.</summary>
/// <param name="Priority">New effective priority (absolute), for a single work request.</param>
/// <param name="Adjust">Amount added to the priority of every waiting work request of a workflow.</param>
public sealed record PriorityChange(int? Priority, int? Adjust);

/// <summary>Why a work request is (not) running, in words a packager understands.</summary>
/// <param name="Summary">One sentence.</param>
/// <param name="Reasons">Every reason found, most important first.</param>
public sealed record ExplainView(long Id, string Name, string State, string Summary, IReadOnlyList<ExplainReason> Reasons);

/// <summary>One reason; <see cref="Code"/> is stable for scripts (e.g. <c>no-worker-for-architecture</c>).</summary>
public sealed record ExplainReason(string Code, string Message);
