using Kiln.Store.Database;

namespace Kiln.Server.Duties;

/// <summary>
/// One of the exactly-one background duties, run by <see cref="DutyRunner"/> on the leader every
/// tick. A duty that works in several statements checks <see cref="LeaderLease.MayRunDuties"/>
/// before each, so that a leader whose lease ran out stops between two of them.
/// </summary>
public interface ILeaderDuty
{
    /// <summary>Short name for logs ("lease reaper").</summary>
    string Name { get; }

    Task RunAsync(LeaderLease leader, CancellationToken ct);
}
