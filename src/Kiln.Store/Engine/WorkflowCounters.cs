namespace Kiln.Store.Engine;

/// <summary>
/// The one definition of how a workflow's state follows from its counters. Every statement
/// that moves the counters (a single end, the success batch, cancel, the retry's recount)
/// builds its SET list here, so they cannot disagree on what "failed" or "cancelled" means.
/// </summary>
internal static class WorkflowCounters
{
    /// <summary>
    /// The SET list of an <c>UPDATE workflows</c>, given the SQL expressions of the new counter
    /// values: running while anything is unfinished (held or queued while a hold is on it);
    /// superseded once a newer workflow of its concurrency group replaced it; then failed if anything failed; then
    /// cancelled if anything was cancelled or skipped; else succeeded. Uses <c>@now</c>.
    /// <paramref name="allowedFailures"/> counts the failed jobs that had <c>allow-failure</c>: they
    /// are in <paramref name="failed"/> (a failure is shown) but do not make the workflow fail.
    /// </summary>
    public static string Set(string unfinished, string succeeded, string failed, string skipped, string cancelled, string allowedFailures = "allowed_failures") => $"""
        unfinished = {unfinished},
        succeeded = {succeeded},
        failed = {failed},
        allowed_failures = {allowedFailures},
        skipped = {skipped},
        cancelled = {cancelled},
        state = CASE
            WHEN {unfinished} > 0 THEN COALESCE(hold_state, 'running')
            WHEN superseded_by IS NOT NULL THEN 'superseded'
            WHEN ({failed}) - ({allowedFailures}) > 0 THEN 'failed'
            WHEN {cancelled} > 0 OR {skipped} > 0 THEN 'cancelled'
            ELSE 'succeeded' END,
        finished_at = CASE WHEN {unfinished} > 0 THEN NULL ELSE @now END
        """;
}
