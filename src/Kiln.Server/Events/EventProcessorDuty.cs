using Kiln.Server.Duties;
using Kiln.Store.Database;

namespace Kiln.Server.Events;

/// <summary>
/// The leader's poll of the event backlog: every duty tick (1 s) it processes what is waiting
/// (<see cref="EventProcessor.DrainAsync"/>) — whatever <see cref="EventSignalListener"/> did not
/// already take on its notification, and everything after a restart or a resume. Only the leader
/// processes events, so arrival order holds and the storm guard's counts are exact.
/// </summary>
public sealed class EventProcessorDuty(EventProcessor processor) : ILeaderDuty
{
    public string Name => "event processor";

    public Task RunAsync(LeaderLease leader, CancellationToken ct) => processor.DrainAsync(() => leader.MayRunDuties, ct);
}
