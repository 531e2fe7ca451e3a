using System.Collections.Concurrent;
using Kiln.Store.Artifacts;

namespace Kiln.Store.Logs;

/// <summary>
/// What log followers (long-polling reads, <c>kiln logs -f</c>) need from the database, shared by all
/// followers of a work request on this replica: its state is read at most once per
/// <see cref="RecheckInterval"/> however many follow it (concurrent followers share the query in
/// flight), and an attempt's lease token, which never changes, once. New output needs no query at
/// all: appends on this replica wake its followers through <see cref="LogStore.GrowthAsync"/>; the
/// state check is the bounded fallback that notices an attempt ended on another replica. So N
/// followers of one log cost about one query per second, not N.
/// </summary>
public sealed class LogFollowers(AttemptLeases leases, TimeProvider time)
{
    /// <summary>How stale a follower's view of the attempt's state may be (it ended on another replica).</summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    /// <summary>Bounds memory: past this many followed work requests, entries not used for a while are dropped.</summary>
    private const int MaxEntries = 10_000;

    private readonly Lock _gate = new();
    private readonly Dictionary<long, (Task<(string State, int Attempt)?> Query, DateTimeOffset Started)> _states = [];
    private readonly ConcurrentDictionary<(long, int), Task<Guid?>> _leases = new();

    /// <summary>The work request's state and latest attempt, as read at most <see cref="RecheckInterval"/> ago (null: it does not exist).</summary>
    public Task<(string State, int Attempt)?> CurrentAsync(long workRequestId, CancellationToken ct)
    {
        Task<(string State, int Attempt)?> query;
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_states.TryGetValue(workRequestId, out var entry) && now - entry.Started < RecheckInterval && !entry.Query.IsFaulted && !entry.Query.IsCanceled)
            {
                query = entry.Query;
            }
            else
            {
                if (_states.Count >= MaxEntries)
                {
                    foreach (var stale in _states.Where(e => now - e.Value.Started > RecheckInterval * 10).Select(e => e.Key).ToList())
                    {
                        _states.Remove(stale);
                    }
                }
                query = QueryAsync(workRequestId);
                _states[workRequestId] = (query, now);
            }
        }
        return query.WaitAsync(ct);
    }

    /// <summary>The lease token attempt <paramref name="attempt"/> ran under; null if it has not started.</summary>
    public async Task<Guid?> LeaseOfAsync(long workRequestId, int attempt, CancellationToken ct)
    {
        if (_leases.Count >= MaxEntries)
        {
            _leases.Clear();
        }
        var key = (workRequestId, attempt);
        // Concurrent first followers share one query; a "not started yet" answer is not kept.
        var lease = await _leases.GetOrAdd(key, k => leases.LeaseOfAsync(k.Item1, k.Item2, CancellationToken.None)).WaitAsync(ct);
        if (lease is null)
        {
            _leases.TryRemove(key, out _);
        }
        return lease;
    }

    /// <summary>Not tied to one request's cancellation: followers share it.</summary>
    private Task<(string State, int Attempt)?> QueryAsync(long workRequestId) => leases.CurrentAsync(workRequestId, CancellationToken.None);
}
