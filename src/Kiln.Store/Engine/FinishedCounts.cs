using Kiln.Core;

namespace Kiln.Store.Engine;

/// <summary>Changes to a workflow's finished counters made by one transaction.</summary>
internal readonly record struct FinishedCounts(int Succeeded, int Failed, int Skipped, int Cancelled)
{
    public int Finished => Succeeded + Failed + Skipped + Cancelled;
    public bool IsZero => Finished == 0;

    public static FinishedCounts For(string finalState, int count = 1) => finalState switch
    {
        WorkRequestState.Succeeded => new(count, 0, 0, 0),
        WorkRequestState.Failed => new(0, count, 0, 0),
        WorkRequestState.Skipped => new(0, 0, count, 0),
        WorkRequestState.Cancelled => new(0, 0, 0, count),
        _ => default,
    };

    public static FinishedCounts operator +(FinishedCounts a, FinishedCounts b) =>
        new(a.Succeeded + b.Succeeded, a.Failed + b.Failed, a.Skipped + b.Skipped, a.Cancelled + b.Cancelled);
}
