namespace Kiln.Core;

/// <summary>
/// The retry rules, as pure policy: infrastructure trouble (an error, a lost lease, a
/// timeout) retries automatically while the attempt budget lasts; a task's own failure only
/// when the job asks (<c>retry_on_failure</c>); a requested cancel wins over any retry; a
/// release hands the work back without spending the budget.
/// </summary>
public static class RetryRules
{
    /// <param name="end">How the attempt ended.</param>
    /// <param name="attempt">The attempt that ended (1-based, counting every claim).</param>
    /// <param name="retryBase">Attempts that do not count against the budget: released ones, and those before a manual retry.</param>
    /// <param name="maxAttempts">The job's attempt budget.</param>
    /// <param name="retryOnFailure">Whether the job retries its task's own failures.</param>
    /// <param name="cancelRequested">Whether someone asked to cancel the work request.</param>
    /// <summary>
    /// Whether requeued work waits its backoff first. Backoff is for work that fails
    /// repeatedly; work lost with its worker (a vanished machine) or handed back unstarted is
    /// claimable at once by another worker. A lost attempt still counts against the budget.
    /// </summary>
    public static bool BacksOff(string outcome) => outcome is not (AttemptOutcome.Released or AttemptOutcome.Lost);

    public static RetryDecision Decide(AttemptEnd end, int attempt, int retryBase, int maxAttempts, bool retryOnFailure, bool cancelRequested)
    {
        var budgetLeft = attempt < retryBase + maxAttempts;
        if (end == AttemptEnd.Cancelled && !cancelRequested)
        {
            // Nobody asked: a worker stopping its task (e.g. shutting down) is an infrastructure error.
            end = AttemptEnd.Error;
        }
        return end switch
        {
            AttemptEnd.Released => new(AttemptOutcome.Released, cancelRequested ? WorkRequestState.Cancelled : WorkRequestState.Pending),
            AttemptEnd.Succeeded => new(AttemptOutcome.Succeeded, WorkRequestState.Succeeded),
            AttemptEnd.Cancelled => new(AttemptOutcome.Cancelled, WorkRequestState.Cancelled),
            AttemptEnd.Failed => new(AttemptOutcome.Failed,
                cancelRequested ? WorkRequestState.Cancelled
                : retryOnFailure && budgetLeft ? WorkRequestState.Pending
                : WorkRequestState.Failed),
            _ => new(end switch { AttemptEnd.Lost => AttemptOutcome.Lost, AttemptEnd.TimedOut => AttemptOutcome.TimedOut, _ => AttemptOutcome.Error },
                cancelRequested ? WorkRequestState.Cancelled
                : budgetLeft ? WorkRequestState.Pending
                : WorkRequestState.Failed),
        };
    }
}
