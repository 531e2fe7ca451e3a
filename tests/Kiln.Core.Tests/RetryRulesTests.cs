using Kiln.Core;

namespace Kiln.Core.Tests;

public sealed class RetryRulesTests
{
    private static RetryDecision Decide(AttemptEnd end, int attempt = 1, int retryBase = 0, int maxAttempts = 3, bool retryOnFailure = false, bool cancelRequested = false) =>
        RetryRules.Decide(end, attempt, retryBase, maxAttempts, retryOnFailure, cancelRequested);

    [Fact]
    public void A_success_is_final() =>
        Assert.Equal(new RetryDecision(AttemptOutcome.Succeeded, WorkRequestState.Succeeded), Decide(AttemptEnd.Succeeded));

    [Theory]
    [InlineData(AttemptEnd.Error, AttemptOutcome.Error)]
    [InlineData(AttemptEnd.Lost, AttemptOutcome.Lost)]
    [InlineData(AttemptEnd.TimedOut, AttemptOutcome.TimedOut)]
    public void Infrastructure_trouble_retries_while_the_budget_lasts_then_fails(AttemptEnd end, string outcome)
    {
        Assert.Equal(new RetryDecision(outcome, WorkRequestState.Pending), Decide(end, attempt: 2));
        Assert.Equal(new RetryDecision(outcome, WorkRequestState.Failed), Decide(end, attempt: 3));
    }

    [Fact]
    public void A_task_failure_retries_only_when_the_job_asks()
    {
        Assert.Equal(WorkRequestState.Failed, Decide(AttemptEnd.Failed).NextState);
        Assert.Equal(WorkRequestState.Pending, Decide(AttemptEnd.Failed, retryOnFailure: true).NextState);
        Assert.Equal(WorkRequestState.Failed, Decide(AttemptEnd.Failed, attempt: 3, retryOnFailure: true).NextState);
    }

    [Fact]
    public void A_manual_retry_base_gives_a_fresh_budget() =>
        Assert.Equal(WorkRequestState.Pending, Decide(AttemptEnd.Error, attempt: 4, retryBase: 3).NextState);

    [Theory]
    [InlineData(AttemptEnd.Failed, AttemptOutcome.Failed)]
    [InlineData(AttemptEnd.Error, AttemptOutcome.Error)]
    [InlineData(AttemptEnd.Lost, AttemptOutcome.Lost)]
    [InlineData(AttemptEnd.Cancelled, AttemptOutcome.Cancelled)]
    [InlineData(AttemptEnd.Released, AttemptOutcome.Released)]
    public void A_requested_cancel_wins_over_any_retry(AttemptEnd end, string outcome) =>
        Assert.Equal(new RetryDecision(outcome, WorkRequestState.Cancelled), Decide(end, retryOnFailure: true, cancelRequested: true));

    [Fact]
    public void A_cancel_nobody_asked_for_is_an_infrastructure_error() =>
        Assert.Equal(new RetryDecision(AttemptOutcome.Error, WorkRequestState.Pending), Decide(AttemptEnd.Cancelled));

    [Fact]
    public void A_release_requeues_even_with_the_budget_spent() =>
        Assert.Equal(new RetryDecision(AttemptOutcome.Released, WorkRequestState.Pending), Decide(AttemptEnd.Released, attempt: 3));

    [Theory]
    [InlineData(AttemptOutcome.Lost, false)]
    [InlineData(AttemptOutcome.Released, false)]
    [InlineData(AttemptOutcome.Error, true)]
    [InlineData(AttemptOutcome.TimedOut, true)]
    [InlineData(AttemptOutcome.Failed, true)]
    public void Only_work_that_failed_waits_its_backoff_and_work_lost_with_its_worker_does_not(string outcome, bool backsOff) =>
        Assert.Equal(backsOff, RetryRules.BacksOff(outcome));
}
