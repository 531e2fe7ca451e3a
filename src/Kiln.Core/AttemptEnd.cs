namespace Kiln.Core;

/// <summary>How an attempt ended, as reported (by a worker) or observed (by the reaper).</summary>
public enum AttemptEnd
{
    /// <summary>The task exited 0.</summary>
    Succeeded,
    /// <summary>The task itself failed (non-zero exit); retried only if the job says so.</summary>
    Failed,
    /// <summary>The task was stopped because cancellation was requested.</summary>
    Cancelled,
    /// <summary>The worker could not run it (infrastructure error); retried automatically.</summary>
    Error,
    /// <summary>The lease expired: the worker vanished. Retried automatically.</summary>
    Lost,
    /// <summary>The attempt outlived its timeout. Retried automatically.</summary>
    TimedOut,
    /// <summary>A draining worker handed the work back unstarted: requeued at once, the attempt not counted.</summary>
    Released,
}
