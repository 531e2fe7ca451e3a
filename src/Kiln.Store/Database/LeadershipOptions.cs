namespace Kiln.Store.Database;

/// <summary>How long duty leadership lasts without renewal, and how often the leader renews it.</summary>
public sealed record LeadershipOptions
{
    /// <summary>Longest leadership lasts after the leader's last renewal (the stated bound, ≤ 30 s).</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Renewals are at most this often: one UPDATE of one row per interval on the leader.</summary>
    public TimeSpan RenewEvery { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The leader starts no duty statement later than this before its lease runs out (a third of
    /// it), so a statement sent just in time finishes before another replica may take over.
    /// </summary>
    public TimeSpan Margin => Lease / 3;

    /// <summary>Clock difference between a replica and the database above which it warns.</summary>
    public TimeSpan SkewWarning { get; init; } = TimeSpan.FromSeconds(2);
}
