using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Store.Database;

/// <summary>
/// Database-enforced "exactly one" for the background duties: a lease row (<c>leadership</c>)
/// that the leader renews with one UPDATE at most every <see cref="LeadershipOptions.RenewEvery"/>,
/// and that any replica takes over once it has expired. Expiry is computed by the database's
/// now(), so replicas' clocks do not matter; a takeover increments the fence, and the leader
/// holds the lease only as (holder, fence). A leader that is frozen (SIGSTOP), partitioned or
/// dead loses it <see cref="LeadershipOptions.Lease"/> after its last renewal at the latest.
/// <para>
/// The fence on the leader's side is its own monotonic clock: a renewal sent at local time t
/// proves the lease until t + lease (the database extends it from a later instant), and
/// <see cref="MayRunDuties"/> is true only until t + lease − margin. A leader that wakes up after
/// a freeze therefore runs no duty before it has renewed — and the renewal, conditioned on
/// (holder, fence, not expired), fails once another replica has taken over.
/// </para>
/// </summary>
public sealed partial class LeaderLease(NpgsqlDataSource dataSource, LeadershipOptions options, TimeProvider time, ILogger<LeaderLease> logger)
{
    /// <summary>The one duty set led today.</summary>
    public const string DutiesName = "duties";

    /// <summary>Takes an expired lease (one UPDATE: a failed condition writes and locks nothing), and returns the row either way.</summary>
    private const string AcquireSql = """
        WITH taken AS (
            UPDATE leadership SET holder = @holder, fence = fence + 1, acquired_at = now(), renewed_at = now(),
                expires_at = now() + @lease, holder_clock_skew_ms = @skew
            WHERE name = @name AND expires_at < now()
            RETURNING holder, fence, acquired_at, expires_at, holder_clock_skew_ms
        )
        SELECT true, holder, fence, acquired_at, expires_at, holder_clock_skew_ms, now() FROM taken
        UNION ALL
        SELECT false, holder, fence, acquired_at, expires_at, holder_clock_skew_ms, now() FROM leadership
        WHERE name = @name AND NOT EXISTS (SELECT 1 FROM taken)
        """;

    /// <summary>
    /// The check before duties and the renewal in one: only the same holder with the same fence,
    /// and only while the lease still holds (after expiry it is taken afresh, with a new fence).
    /// </summary>
    private const string RenewSql = """
        UPDATE leadership SET renewed_at = now(), expires_at = now() + @lease, holder_clock_skew_ms = @skew
        WHERE name = @name AND holder = @holder AND fence = @fence AND expires_at > now()
        RETURNING true, holder, fence, acquired_at, expires_at, holder_clock_skew_ms, now()
        """;

    /// <summary>A leader that stops hands over at once instead of making the others wait for the expiry.</summary>
    private const string ReleaseSql = """
        UPDATE leadership SET expires_at = now() WHERE name = @name AND holder = @holder AND fence = @fence AND expires_at > now()
        """;

    private State _state = State.Follower;
    private long _lastRenewalSent;
    private long _lastLeaderSeen = time.GetTimestamp();
    private bool _skewed;

    /// <summary>This replica's id in the leadership row and in status: host, process id and a random part (containers share pids).</summary>
    public string ReplicaId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    public LeadershipOptions Options => options;

    /// <summary>The fence this replica leads under, or null.</summary>
    public long? Fence => _state.Fence;

    /// <summary>When this replica took leadership (database time), if it leads.</summary>
    public DateTimeOffset? LeadingSince => _state.Fence is null ? null : _state.AcquiredAt;

    /// <summary>True only while this replica holds the lease by its own conservative clock: the check before every duty statement.</summary>
    public bool MayRunDuties => _state is { Fence: not null } s && time.GetTimestamp() < s.ValidUntil;

    /// <summary>The row as last seen by <see cref="TickAsync"/>, if any tick reached the database.</summary>
    public LeadershipView? LastSeen { get; private set; }

    /// <summary>This replica's clock minus the database's, measured by the last tick (half the round trip uncertain).</summary>
    public TimeSpan? ClockSkew { get; private set; }

    /// <summary>How long this replica has not seen any leader (itself included), by its own clock.</summary>
    public TimeSpan Leaderless => MayRunDuties || LastSeen is { Held: true } ? TimeSpan.Zero : time.GetElapsedTime(_lastLeaderSeen);

    /// <summary>
    /// Renews leadership (at most every <see cref="LeadershipOptions.RenewEvery"/>) or tries to
    /// take it; returns whether this replica may run duties now. Logs acquisition, loss and takeover.
    /// A database error propagates (the caller logs it); the lease keeps its local validity meanwhile.
    /// </summary>
    public async Task<bool> TickAsync(CancellationToken ct)
    {
        var leading = _state.Fence is not null;
        if (leading && MayRunDuties && time.GetElapsedTime(_lastRenewalSent) < options.RenewEvery)
        {
            return true;
        }
        var sent = time.GetTimestamp();
        var localBefore = time.GetUtcNow();
        LeadershipView? view;
        bool ours;
        try
        {
            (ours, view) = await RunAsync(leading ? RenewSql : AcquireSql, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            if (leading && !MayRunDuties)
            {
                LogLost(logger, _state.Fence!.Value, $"could not renew it within the lease ({e.Message})");
                _state = State.Follower;
            }
            throw;
        }
        var localAfter = time.GetUtcNow();
        if (view is not null)
        {
            MeasureSkew(view.DatabaseNow, localBefore, localAfter);
        }
        if (leading && !ours)
        {
            LogLost(logger, _state.Fence!.Value, "the lease expired before it was renewed (this replica was frozen or cut off for too long) or another replica took over");
            _state = State.Follower;
            // Someone else may hold it now, or nobody: look again (and take it if it is free).
            (ours, view) = await RunAsync(AcquireSql, ct);
        }
        if (ours && view is not null)
        {
            if (!leading || _state.Fence != view.Fence)
            {
                var previous = LastSeen is { Holder.Length: > 0 } before && before.Holder != ReplicaId
                    ? $"{before.Holder} (fence {before.Fence})" : "nobody";
                LogAcquired(logger, ReplicaId, view.Fence, previous);
            }
            _state = new State(view.Fence, view.AcquiredAt, sent + (long)((options.Lease - options.Margin).TotalSeconds * time.TimestampFrequency));
            _lastRenewalSent = sent;
        }
        else if (view is { Held: true } && LastSeen is { } seen && (seen.Holder != view.Holder || seen.Fence != view.Fence))
        {
            LogObservedLeader(logger, view.Holder, view.Fence);
        }
        LastSeen = view;
        if (ours || view is { Held: true })
        {
            _lastLeaderSeen = time.GetTimestamp();
        }
        return ours && MayRunDuties;
    }

    /// <summary>Hands leadership over at once (on shutdown); the next follower's tick takes it.</summary>
    public async Task ReleaseAsync()
    {
        if (_state.Fence is not { } fence)
        {
            return;
        }
        _state = State.Follower;
        try
        {
            await using var cmd = dataSource.CreateCommand(ReleaseSql);
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", DutiesName));
            cmd.Parameters.Add(new NpgsqlParameter<string>("holder", ReplicaId));
            cmd.Parameters.Add(new NpgsqlParameter<long>("fence", fence));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await cmd.ExecuteNonQueryAsync(timeout.Token);
            LogReleased(logger, fence);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or OperationCanceledException)
        {
            // Then the lease simply expires.
        }
    }

    private async Task<(bool Ours, LeadershipView? View)> RunAsync(string sql, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", DutiesName));
        cmd.Parameters.Add(new NpgsqlParameter<string>("holder", ReplicaId));
        cmd.Parameters.Add(new NpgsqlParameter<TimeSpan>("lease", options.Lease));
        cmd.Parameters.Add(new NpgsqlParameter<int>("skew", (int)Math.Clamp((ClockSkew ?? TimeSpan.Zero).TotalMilliseconds, int.MinValue, int.MaxValue)));
        if (sql == RenewSql)
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("fence", _state.Fence!.Value));
        }
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return (false, null);
        }
        return (reader.GetBoolean(0), new LeadershipView(reader.GetString(1), reader.GetInt64(2), reader.GetFieldValue<DateTimeOffset>(3),
            reader.GetFieldValue<DateTimeOffset>(4), TimeSpan.FromMilliseconds(reader.GetInt32(5)), reader.GetFieldValue<DateTimeOffset>(6)));
    }

    private void MeasureSkew(DateTimeOffset databaseNow, DateTimeOffset localBefore, DateTimeOffset localAfter)
    {
        var roundTrip = localAfter - localBefore;
        var skew = localBefore + (roundTrip / 2) - databaseNow;
        ClockSkew = skew;
        // Only what the round trip cannot explain counts.
        var skewed = skew.Duration() - (roundTrip / 2) > options.SkewWarning;
        if (skewed && !_skewed)
        {
            LogSkew(logger, skew.TotalSeconds, options.SkewWarning.TotalSeconds);
        }
        else if (!skewed && _skewed)
        {
            LogSkewGone(logger, skew.TotalMilliseconds);
        }
        _skewed = skewed;
    }

    /// <param name="Fence">Null when following.</param>
    /// <param name="ValidUntil">Local monotonic timestamp after which no duty may start.</param>
    private sealed record State(long? Fence, DateTimeOffset AcquiredAt, long ValidUntil)
    {
        public static readonly State Follower = new(null, default, 0);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} now leads the background duties (fence {Fence}; previous leader: {Previous})")]
    private static partial void LogAcquired(ILogger logger, string replica, long fence, string previous);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost duty leadership (fence {Fence}): {Reason}; this replica runs no duty until it leads again")]
    private static partial void LogLost(ILogger logger, long fence, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Duty leadership handed over (fence {Fence}) on shutdown")]
    private static partial void LogReleased(ILogger logger, long fence);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} leads the background duties (fence {Fence})")]
    private static partial void LogObservedLeader(ILogger logger, string replica, long fence);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This replica's clock differs from the database's by {Seconds:0.0} s (warning above {Limit} s): leases and deadlines it sets are off by as much; synchronise the clocks (NTP)")]
    private static partial void LogSkew(ILogger logger, double seconds, double limit);

    [LoggerMessage(Level = LogLevel.Information, Message = "This replica's clock agrees with the database's again ({Milliseconds:0} ms)")]
    private static partial void LogSkewGone(ILogger logger, double milliseconds);
}
