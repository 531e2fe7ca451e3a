using Kiln.Contracts;
using Npgsql;

namespace Kiln.Store.Outbox;

/// <summary>The outbox as users see it: per target of a workflow, desired (derived now) against acknowledged.</summary>
public sealed class OutboxQueries(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>A workflow's targets (its own and its jobs'), at most 1,000, forge ones first.</summary>
    private const string TargetsSql = $"""
        SELECT t.id, t.kind, t.channel,
               COALESCE(l.forge || ' ' || l.repository, s.url, ''), t.context, r.name,
               {OutboxTargets.DesiredSql} AS desired,
               t.acknowledged, t.acknowledged_at, t.attempts, t.writes, t.last_code, t.last_answer, t.last_attempt_at,
               t.next_attempt_at, c.paused_until, c.pause_reason, t.failed, t.done
        FROM status_targets t
        LEFT JOIN workflows w ON w.id = t.workflow_id
        LEFT JOIN work_requests r ON r.id = t.work_request_id
        LEFT JOIN events e ON e.id = t.event_id
        LEFT JOIN repository_links l ON l.id = t.link_id
        LEFT JOIN webhook_subscriptions s ON s.id = t.subscription_id
        LEFT JOIN status_channels c ON c.channel = t.channel
        WHERE t.workflow_id = @workflow
        ORDER BY t.subscription_id IS NOT NULL, t.id
        LIMIT 1000
        """;

    private const string ReopenFailedSql = """
        WITH reopened AS (
            UPDATE status_targets SET done = false, failed = NULL, attempts = 0, next_attempt_at = @now
            WHERE workflow_id = @workflow AND failed IS NOT NULL
            RETURNING 1
        ), notified AS (
            SELECT pg_notify('kiln_status', '') WHERE EXISTS (SELECT 1 FROM reopened)
        )
        SELECT (SELECT count(*) FROM reopened)::int, (SELECT count(*) FROM notified)::int
        """;

    public async Task<IReadOnlyList<StatusReportView>> OfWorkflowAsync(long workflowId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(TargetsSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var targets = new List<StatusReportView>();
        while (await reader.ReadAsync(ct))
        {
            string? S(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            DateTimeOffset? T(int i) => reader.IsDBNull(i) ? null : reader.GetFieldValue<DateTimeOffset>(i);
            var desired = S(6) ?? "unknown";
            var acknowledged = S(7);
            var failed = S(17);
            var done = reader.GetBoolean(18);
            var paused = T(15) is { } until && until > now ? until : (DateTimeOffset?)null;
            DateTimeOffset? next = done || failed is not null || desired == acknowledged ? null : Later(T(14), paused);
            targets.Add(new StatusReportView(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), S(4), S(5), desired, acknowledged, T(8),
                reader.GetInt32(9), reader.GetInt32(10), reader.IsDBNull(11) ? null : reader.GetInt32(11), S(12), T(13), next, paused,
                paused is null ? null : S(16), failed, done));
        }
        return targets;
    }

    /// <summary>Reopens the workflow's failed targets (after the token or repository was fixed); returns how many.</summary>
    public async Task<int> RetryFailedAsync(long workflowId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(ReopenFailedSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        return (int)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;
}
