using Kiln.Contracts;
using Kiln.Store.Notices;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Server.Notices;

/// <summary>
/// The notices this replica shows, cached in-process so that the <c>Kiln-Notice</c> header costs
/// no query per request: the not-yet-ended notices are read at most once every
/// <see cref="Freshness"/> (5 s), and which one is active is decided on each request from the
/// cached start and end times, so a notice starts and ends on time between reads. A post or
/// clear on this replica is visible at once; other replicas see it within <see cref="Freshness"/>.
/// A failed read keeps the previous list and is retried after the same interval.
/// </summary>
public sealed partial class NoticeBoard(NoticeStore store, TimeProvider time, ILogger<NoticeBoard> logger)
{
    /// <summary>How old the cached list may get before a request reads it again.</summary>
    public static readonly TimeSpan Freshness = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private Snapshot _snapshot = new([], DateTimeOffset.MinValue);
    private Task<Snapshot>? _refresh;
    private long _generation;

    /// <summary>The header value of the notice to show now (most severe, then newest), or null.</summary>
    public async ValueTask<string?> HeaderAsync(CancellationToken ct)
    {
        var snapshot = _snapshot;
        if (time.GetUtcNow() - snapshot.ReadAt >= Freshness)
        {
            snapshot = await RefreshAsync().WaitAsync(ct);
        }
        var now = time.GetUtcNow();
        foreach (var notice in snapshot.Notices)
        {
            if (notice.View.StartsAt <= now && (notice.View.EndsAt is null || notice.View.EndsAt > now))
            {
                return notice.Header;
            }
        }
        return null;
    }

    /// <summary>Forget the cached list (after this replica posted or cleared a notice).</summary>
    public void Invalidate()
    {
        lock (_gate)
        {
            _snapshot = _snapshot with { ReadAt = DateTimeOffset.MinValue };
            _generation++;
        }
    }

    /// <summary>One read at a time: concurrent requests that find the cache stale share it.</summary>
    private Task<Snapshot> RefreshAsync()
    {
        lock (_gate)
        {
            // Run apart from the lock: a read that completed synchronously would otherwise clear _refresh before it is set.
            var generation = _generation;
            return _refresh ??= Task.Run(() => ReadAsync(generation));
        }
    }

    private async Task<Snapshot> ReadAsync(long generation)
    {
        Snapshot next;
        try
        {
            var upcoming = await store.UpcomingAsync(CancellationToken.None);
            next = new Snapshot(
                [.. upcoming
                    .OrderBy(n => SeverityRank(n.Severity)).ThenByDescending(n => n.StartsAt).ThenByDescending(n => n.Id)
                    .Select(n => new Shown(n, NoticeHeader.Format(n.Severity, n.Text)))],
                time.GetUtcNow());
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            LogReadFailed(logger, e.Message);
            next = _snapshot with { ReadAt = time.GetUtcNow() };
        }
        lock (_gate)
        {
            // Invalidated while reading: the list may predate the change, so the next request reads again.
            _snapshot = generation == _generation ? next : next with { ReadAt = DateTimeOffset.MinValue };
            _refresh = null;
        }
        return next;
    }

    /// <summary>Most severe first: the order the header picks in.</summary>
    public static int SeverityRank(string severity) => severity switch
    {
        "critical" => 0,
        "warning" => 1,
        _ => 2,
    };

    private sealed record Shown(NoticeView View, string Header);

    private sealed record Snapshot(IReadOnlyList<Shown> Notices, DateTimeOffset ReadAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read operator notices; showing the previous ones: {Reason}")]
    private static partial void LogReadFailed(ILogger logger, string reason);
}
