namespace Kiln.Core;

/// <summary>
/// The lifecycle of ARCHITECTURE.md, as the strings stored in <c>work_requests.state</c>:
/// blocked → pending → running → succeeded | failed; skipped when a dependency did not
/// succeed; cancelled on request. Lease loss and infrastructure errors send running back to
/// pending (with backoff) until the attempt limit.
/// </summary>
public static class WorkRequestState
{
    public const string Blocked = "blocked";
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Skipped = "skipped";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Blocked, Pending, Running, Succeeded, Failed, Skipped, Cancelled];

    public static bool IsFinal(string state) => state is Succeeded or Failed or Skipped or Cancelled;

    public static bool IsKnown(string state) => All.Contains(state);
}

/// <summary>Outcomes recorded per attempt in <c>attempts.outcome</c>.</summary>
public static class AttemptOutcome
{
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    /// <summary>The worker stopped heartbeating; the lease expired.</summary>
    public const string Lost = "lost";
    /// <summary>The attempt ran past its job's timeout.</summary>
    public const string TimedOut = "timed-out";
    /// <summary>The worker reported an infrastructure error.</summary>
    public const string Error = "error";
    /// <summary>A draining worker handed the work back before running it; not counted against the attempt limit.</summary>
    public const string Released = "released";
}

/// <summary>Workflow states, derived incrementally from its work requests' counters.</summary>
public static class WorkflowState
{
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    /// <summary>Created beyond a trigger's burst limit (the storm guard): stored and visible, nothing claimable until approved.</summary>
    public const string Held = "held";
    /// <summary>Waiting for its concurrency group: released when the group's running workflow ends.</summary>
    public const string Queued = "queued";
    /// <summary>A newer workflow of its concurrency group replaced it before it ran (see <c>superseded_by</c>).</summary>
    public const string Superseded = "superseded";

    public static readonly IReadOnlyList<string> All = [Running, Succeeded, Failed, Cancelled, Held, Queued, Superseded];

    public static bool IsFinal(string state) => state is Succeeded or Failed or Cancelled or Superseded;
}
