using Kiln.Store.Outbox;

namespace Kiln.Server.Outbox;

/// <summary>
/// Puts one target's desired state on the other side — a forge's check run or commit status, or a
/// webhook endpoint — in one write, and classifies the answer (<see cref="SendAnswer"/>). A sender
/// never retries by itself and never sleeps: the outbox decides when to try again, so a channel's
/// pause and spacing hold across writes, leaders and restarts.
/// </summary>
public interface IOutboxSender
{
    /// <summary>Whether this sender writes targets of <paramref name="kind"/> (summary, job, group, hook-workflow, hook-job, hook-event).</summary>
    bool Handles(string kind);

    /// <summary>One write of <see cref="OutboxItem.Desired"/> (or of the stored delivery <see cref="OutboxItem.RedeliverId"/>). Throws only for a timeout or a connection failure; every answer is a <see cref="SendAnswer"/>.</summary>
    Task<SendAnswer> SendAsync(OutboxItem item, CancellationToken ct);
}
