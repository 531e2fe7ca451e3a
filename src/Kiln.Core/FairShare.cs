namespace Kiln.Core;

/// <summary>
/// The scheduling policy, stated once:
/// <list type="bullet">
/// <item>Fair share: each claimed slot goes to the eligible project with the lowest
/// running ÷ weight in the worker's queue, skipping projects at their cap; ties go to the
/// lower project id.</item>
/// <item>Within a project, the highest aged priority first, then the oldest.</item>
/// <item>Aging: waiting <see cref="AgingSecondsPerPoint"/> seconds is worth one priority point,
/// so work of priority p can be overtaken by newly queued work of priority q only during its
/// first (q − p) × 30 s in the queue. Between a manual build (+30) and a mass rebuild (−20)
/// that bound is 25 minutes.</item>
/// </list>
/// </summary>
public static class FairShare
{
    public const int AgingSecondsPerPoint = 30;

    /// <summary>Priority classes by trigger, added to project base, workflow and job priority.</summary>
    public static readonly IReadOnlyDictionary<string, int> TriggerPriority = new Dictionary<string, int>
    {
        ["manual"] = 30,
        ["pull-request"] = 20,
        ["push"] = 10,
        ["scheduled"] = 0,
        ["mass-rebuild"] = -20,
    };

    public const string DefaultTrigger = "manual";

    /// <summary>The claim order key of work of this priority queued at this instant (higher first).</summary>
    public static double ClaimRank(int priority, DateTimeOffset queuedAt) =>
        priority - (queuedAt.ToUnixTimeMilliseconds() / 1000.0 / AgingSecondsPerPoint);
}
