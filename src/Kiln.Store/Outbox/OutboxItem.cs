namespace Kiln.Store.Outbox;

/// <summary>
/// One target due for a write, with the state it should show now (<see cref="Desired"/>, derived at
/// this moment from the engine's rows) and what the other side last acknowledged.
/// </summary>
/// <param name="Kind">summary, job, group (forge); hook-workflow, hook-job, hook-event (webhooks).</param>
/// <param name="RemoteId">The forge's id of the object once created (a GitHub check run id).</param>
/// <param name="Attempts">Failed tries since the last acknowledgement.</param>
/// <param name="RedeliverId">A delivery asked to be sent again with its stored body (webhooks).</param>
public sealed record OutboxItem(
    long TargetId, string Channel, string Kind, string Desired, string? Acknowledged, string? RemoteId,
    long? WorkflowId, long? WorkRequestId, string? GroupName, long? EventId, long? LinkId, long? SubscriptionId,
    string? Sha, string? Context, int Attempts, long? RedeliverId)
{
    public bool IsWebhook => Kind.StartsWith("hook-", StringComparison.Ordinal);
}

/// <summary>How a write ended, as the sender classified the other side's answer.</summary>
public enum SendOutcome
{
    /// <summary>2xx: the state is acknowledged and never sent again.</summary>
    Acknowledged,

    /// <summary>5xx, a timeout, a refused connection: try this target again after a backoff.</summary>
    Retry,

    /// <summary>A rate limit (403/429 secondary limit, retry-after, x-ratelimit-remaining 0): the whole channel waits <see cref="SendAnswer.PauseFor"/>; this target is tried again after it.</summary>
    Paused,

    /// <summary>A refusal that will never succeed (bad token, repository gone, invalid request): recorded, shown, not retried.</summary>
    Failed,
}

/// <summary>
/// What one write did, for the outbox to record: the outcome, the forge's answer (status code and
/// the start of its body), the forge's id of the object when it created one, a channel pause, what
/// the forge said of its primary rate limit, and what was sent (webhooks keep the body for redelivery).
/// </summary>
public sealed record SendAnswer(
    SendOutcome Outcome,
    int? StatusCode,
    string? Answer,
    string? RemoteId = null,
    TimeSpan? PauseFor = null,
    string? PauseReason = null,
    int? RateRemaining = null,
    DateTimeOffset? RateResetAt = null,
    string? Method = null,
    string? Url = null,
    byte[]? Body = null,
    string? MessageId = null,
    string? EventType = null,
    TimeSpan Duration = default);

/// <summary>A channel's memory: its pause and when it last wrote.</summary>
public sealed record ChannelState(string Channel, DateTimeOffset? PausedUntil, string? PauseReason, DateTimeOffset? LastWriteAt, int? RateRemaining, DateTimeOffset? RateResetAt);
