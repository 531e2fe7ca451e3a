namespace Kiln.Core;

/// <summary>What an ended attempt is recorded as (an <see cref="AttemptOutcome"/>) and the state the work request moves to.</summary>
public readonly record struct RetryDecision(string Outcome, string NextState);
