namespace Kiln.Store.Engine;

/// <summary>How a report was answered.</summary>
public enum ReportStatus
{
    /// <summary>The report ended the running attempt.</summary>
    Recorded,
    /// <summary>The report repeats one already recorded; the recorded answer is returned.</summary>
    Repeated,
    /// <summary>No such work request.</summary>
    NotFound,
    /// <summary>The lease does not hold the work request (another attempt, or not running).</summary>
    LeaseNotHeld,
    /// <summary>The lease expired before the report; the result is refused.</summary>
    LeaseExpired,
}
