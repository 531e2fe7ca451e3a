namespace Kiln.Contracts;

/// <summary>The farm at a glance (<c>GET /api/v1/status</c>, <c>kiln status</c>), as the answering replica sees it.</summary>
/// <param name="Version">The answering server's version.</param>
/// <param name="Replica">The answering replica.</param>
/// <param name="Database">Whether the database answers and has every migration this server knows.</param>
/// <param name="Leadership">Who leads the background duties, since when, under which fence.</param>
/// <param name="Queues">Per queue: pending and running work requests, and how long the oldest pending one has waited.</param>
/// <param name="Workers">Workers online (seen within <see cref="WorkerCounts.OnlineWindowSeconds"/>) and offline.</param>
/// <param name="Warnings">What an operator should look at, in words (no leader, clock skew, database); empty when all is well.</param>
public sealed record FarmStatus(
    string Version,
    ReplicaStatus Replica,
    DatabaseStatus Database,
    LeadershipStatus Leadership,
    IReadOnlyList<QueueStatus> Queues,
    WorkerCounts Workers,
    IReadOnlyList<string> Warnings);

/// <param name="Id">Replica id (host:pid:random), as in the leadership row.</param>
/// <param name="Leading">True if this replica leads the duties now.</param>
/// <param name="ClockSkewMs">This replica's clock minus the database's, from its last duty tick (null before the first).</param>
public sealed record ReplicaStatus(string Id, bool Leading, int? ClockSkewMs);

/// <param name="Reachable">The database answered this request.</param>
/// <param name="MigrationsCurrent">Every migration this server knows is applied.</param>
/// <param name="SchemaVersion">The newest applied migration (e.g. <c>0003_leadership</c>).</param>
/// <param name="MissingMigrations">Migrations this server knows that are not applied.</param>
/// <param name="Error">Why the database did not answer, if it did not.</param>
public sealed record DatabaseStatus(bool Reachable, bool MigrationsCurrent, string? SchemaVersion, IReadOnlyList<string> MissingMigrations, string? Error);

/// <param name="Leader">Replica id of the leader, or null when no lease holds.</param>
/// <param name="Since">When the leader took leadership.</param>
/// <param name="Fence">Incremented on every takeover.</param>
/// <param name="ExpiresAt">When the lease runs out unless renewed (about every second).</param>
/// <param name="LeaderClockSkewMs">The leader's clock minus the database's, at its last renewal.</param>
/// <param name="LeaderlessSeconds">How long no replica has led (0 while a lease holds).</param>
/// <param name="BoundSeconds">The leadership lease: a dead or frozen leader is replaced within this (plus one tick).</param>
public sealed record LeadershipStatus(
    string? Leader, DateTimeOffset? Since, long Fence, DateTimeOffset? ExpiresAt, int? LeaderClockSkewMs, double LeaderlessSeconds, int BoundSeconds);

/// <param name="OldestWaitSeconds">How long the earliest-submitted pending work request of the queue has been pending (null when none is).</param>
public sealed record QueueStatus(string Name, long Pending, long Running, double? OldestWaitSeconds);

/// <param name="Online">Workers seen (claim or heartbeat) within <paramref name="OnlineWindowSeconds"/>.</param>
/// <param name="Offline">Registered workers not seen within it.</param>
/// <param name="OnlineSlots">Slots of the online workers.</param>
/// <param name="BusySlots">Work requests running now.</param>
public sealed record WorkerCounts(int Online, int Offline, int OnlineSlots, long BusySlots, int OnlineWindowSeconds);

/// <summary>The body of a passing <c>/healthz</c> (<c>ok</c>) or <c>/readyz</c> (<c>ready</c>) probe.</summary>
public sealed record HealthResponse(string Status, string Version);
