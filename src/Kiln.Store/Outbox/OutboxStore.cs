using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Outbox;

/// <summary>
/// The outbox's reads and writes for the leader's sender (see <see cref="OutboxTargets"/> for how
/// targets are made and how their desired state is derived). Only the sender writes here, after a
/// write to the forge or a webhook endpoint; nothing here runs in a claim, a completion or a request.
/// </summary>
public sealed class OutboxStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>Channels with an open target due now and no pause in force.</summary>
    private const string DueChannelsSql = """
        SELECT DISTINCT t.channel FROM status_targets t
        WHERE NOT t.done AND t.next_attempt_at <= @now
          AND NOT EXISTS (SELECT 1 FROM status_channels c WHERE c.channel = t.channel AND c.paused_until > @now)
        LIMIT 1000
        """;

    /// <summary>
    /// The channel's next write: an open, due target whose desired state differs from the one
    /// acknowledged (or a redelivery). Targets never acknowledged go first, so the first status of a
    /// new workflow is not stuck behind another workflow's backlog.
    /// </summary>
    private const string NextSql = $"""
        SELECT id, channel, kind, desired, acknowledged, remote_id, workflow_id, work_request_id, group_name, event_id, link_id,
               subscription_id, sha, context, attempts, redeliver_id
        FROM (
            SELECT t.*, {OutboxTargets.DesiredSql} AS desired
            FROM status_targets t
            LEFT JOIN workflows w ON w.id = t.workflow_id
            LEFT JOIN work_requests r ON r.id = t.work_request_id
            LEFT JOIN events e ON e.id = t.event_id
            WHERE t.channel = @channel AND NOT t.done AND t.next_attempt_at <= @now
        ) x
        WHERE x.desired IS NOT NULL AND (x.desired IS DISTINCT FROM x.acknowledged OR x.redeliver_id IS NOT NULL)
        ORDER BY (x.acknowledged IS NULL) DESC, x.next_attempt_at, x.id
        LIMIT 1
        """;

    /// <summary>Open targets whose acknowledged state is final and current: closed without a write to the forge.</summary>
    private const string CloseSettledSql = $"""
        UPDATE status_targets s SET done = true
        FROM (
            SELECT t.id, t.kind, t.acknowledged, {OutboxTargets.DesiredSql} AS desired
            FROM status_targets t
            LEFT JOIN workflows w ON w.id = t.workflow_id
            LEFT JOIN work_requests r ON r.id = t.work_request_id
            LEFT JOIN events e ON e.id = t.event_id
            WHERE t.channel = @channel AND NOT t.done AND t.redeliver_id IS NULL AND t.acknowledged = ANY (@finals)
        ) x
        WHERE s.id = x.id AND x.desired = x.acknowledged
        """;

    private const string RecordDeliverySql = """
        INSERT INTO status_deliveries (target_id, message_id, state, event_type, method, url, body, status_code, answer, error, duration_ms, redelivery_of, attempted_at)
        VALUES (@target, @message, @state, @event_type, @method, @url, @body, @code, @answer, @error, @duration, @redelivery_of, @now)
        """;

    private const string AcknowledgeSql = """
        UPDATE status_targets SET acknowledged = @state, acknowledged_at = @now, remote_id = COALESCE(@remote, remote_id),
            attempts = 0, writes = writes + 1, last_attempt_at = @now, last_code = @code, last_answer = @answer,
            next_attempt_at = @now, failed = NULL, done = @final, redeliver_id = NULL
        WHERE id = @target
        """;

    private const string RetryLaterSql = """
        UPDATE status_targets SET attempts = attempts + 1, writes = writes + @wrote, last_attempt_at = @now, last_code = @code,
            last_answer = @answer, next_attempt_at = @next, remote_id = COALESCE(@remote, remote_id)
        WHERE id = @target
        """;

    private const string FailSql = """
        UPDATE status_targets SET attempts = attempts + 1, writes = writes + 1, last_attempt_at = @now, last_code = @code,
            last_answer = @answer, failed = @answer, done = true, redeliver_id = NULL
        WHERE id = @target
        """;

    private const string ChannelSql = """
        INSERT INTO status_channels (channel, paused_until, pause_reason, last_write_at, rate_remaining, rate_reset_at, updated_at)
        VALUES (@channel, @paused_until, @reason, @now, @remaining, @reset, @now)
        ON CONFLICT (channel) DO UPDATE SET
            paused_until = EXCLUDED.paused_until,
            pause_reason = EXCLUDED.pause_reason,
            last_write_at = EXCLUDED.last_write_at,
            rate_remaining = COALESCE(EXCLUDED.rate_remaining, status_channels.rate_remaining),
            rate_reset_at = COALESCE(EXCLUDED.rate_reset_at, status_channels.rate_reset_at),
            updated_at = EXCLUDED.updated_at
        """;

    private const string ReadChannelSql = """
        SELECT channel, paused_until, pause_reason, last_write_at, rate_remaining, rate_reset_at FROM status_channels WHERE channel = @channel
        """;

    private const string ReopenSql = """
        WITH reopened AS (
            UPDATE status_targets SET done = false, failed = NULL, attempts = 0, next_attempt_at = @now
            WHERE workflow_id = @workflow AND (done OR failed IS NOT NULL)
            RETURNING 1
        )
        SELECT pg_notify('kiln_status', '') FROM reopened LIMIT 1
        """;

    private static readonly string[] Finals = ["succeeded", "failed", "cancelled", "skipped", "superseded", "processed", "ignored", "rejected"];

    public async Task<IReadOnlyList<string>> DueChannelsAsync(CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(DueChannelsSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        var channels = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            channels.Add(reader.GetString(0));
        }
        return channels;
    }

    /// <summary>The channel's next write (see <see cref="NextSql"/>); null when it has nothing to send now. Closes settled targets first.</summary>
    public async Task<OutboxItem?> NextAsync(string channel, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using (var close = new NpgsqlCommand(CloseSettledSql, conn))
        {
            close.Parameters.Add(new NpgsqlParameter<string>("channel", channel));
            close.Parameters.Add(new NpgsqlParameter<string[]>("finals", Finals));
            await close.ExecuteNonQueryAsync(ct);
        }
        await using var cmd = new NpgsqlCommand(NextSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("channel", channel));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        string? S(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        long? L(int i) => reader.IsDBNull(i) ? null : reader.GetInt64(i);
        return new OutboxItem(
            reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), S(4), S(5), L(6), L(7), S(8), L(9), L(10),
            L(11), S(12), S(13), reader.GetInt32(14), L(15));
    }

    public async Task<ChannelState?> ChannelAsync(string channel, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(ReadChannelSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("channel", channel));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        DateTimeOffset? T(int i) => reader.IsDBNull(i) ? null : reader.GetFieldValue<DateTimeOffset>(i);
        return new ChannelState(reader.GetString(0), T(1), reader.IsDBNull(2) ? null : reader.GetString(2), T(3),
            reader.IsDBNull(4) ? null : reader.GetInt32(4), T(5));
    }

    /// <summary>
    /// Records one write in one transaction: the delivery row (what was sent and answered), the
    /// target (acknowledged, retried after <paramref name="retryAfter"/>, or failed), and the
    /// channel (its last write, pause and rate limit).
    /// </summary>
    public async Task RecordAsync(OutboxItem item, string sentState, SendAnswer answer, TimeSpan retryAfter, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var clipped = Clip(answer.Answer);
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var delivery = new NpgsqlCommand(RecordDeliverySql, conn, tx))
        {
            var p = delivery.Parameters;
            p.Add(new NpgsqlParameter<long>("target", item.TargetId));
            p.Add(Text("message", answer.MessageId));
            p.Add(new NpgsqlParameter<string>("state", sentState));
            p.Add(Text("event_type", answer.EventType));
            p.Add(Text("method", answer.Method));
            p.Add(Text("url", answer.Url));
            p.Add(new NpgsqlParameter("body", NpgsqlDbType.Bytea) { Value = (object?)answer.Body ?? DBNull.Value });
            p.Add(new NpgsqlParameter<int?>("code", answer.StatusCode));
            p.Add(Text("answer", answer.Outcome == SendOutcome.Acknowledged ? clipped : null));
            p.Add(Text("error", answer.Outcome == SendOutcome.Acknowledged ? null : clipped));
            p.Add(new NpgsqlParameter<int>("duration", (int)Math.Min(int.MaxValue, answer.Duration.TotalMilliseconds)));
            p.Add(new NpgsqlParameter<long?>("redelivery_of", item.RedeliverId));
            p.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            await delivery.ExecuteNonQueryAsync(ct);
        }
        var sql = answer.Outcome switch
        {
            SendOutcome.Acknowledged => AcknowledgeSql,
            SendOutcome.Failed => FailSql,
            _ => RetryLaterSql,
        };
        await using (var target = new NpgsqlCommand(sql, conn, tx))
        {
            var p = target.Parameters;
            p.Add(new NpgsqlParameter<long>("target", item.TargetId));
            p.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            p.Add(new NpgsqlParameter<int?>("code", answer.StatusCode));
            p.Add(Text("answer", clipped));
            p.Add(Text("remote", answer.RemoteId));
            if (answer.Outcome == SendOutcome.Acknowledged)
            {
                p.Add(new NpgsqlParameter<string>("state", sentState));
                p.Add(new NpgsqlParameter<bool>("final", OutboxTargets.IsFinal(item.Kind, sentState) && item.RedeliverId is null));
            }
            else if (answer.Outcome != SendOutcome.Failed)
            {
                p.Add(new NpgsqlParameter<int>("wrote", answer.StatusCode is null ? 0 : 1));
                p.Add(new NpgsqlParameter<DateTimeOffset>("next", now + retryAfter));
            }
            await target.ExecuteNonQueryAsync(ct);
        }
        await using (var channel = new NpgsqlCommand(ChannelSql, conn, tx))
        {
            var p = channel.Parameters;
            p.Add(new NpgsqlParameter<string>("channel", item.Channel));
            p.Add(new NpgsqlParameter<DateTimeOffset?>("paused_until", answer.PauseFor is { } pause ? now + pause : null));
            p.Add(Text("reason", answer.PauseFor is null ? null : answer.PauseReason));
            p.Add(new NpgsqlParameter<int?>("remaining", answer.RateRemaining));
            p.Add(new NpgsqlParameter<DateTimeOffset?>("reset", answer.RateResetAt));
            p.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
            await channel.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
    }

    /// <summary>A retried workflow reports again: its closed and failed targets are reopened (none written for a workflow without targets).</summary>
    public static async Task ReopenAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long workflowId, DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(ReopenSql, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Answers are kept to their first 1,000 characters.</summary>
    public static string? Clip(string? text) => text is { Length: > 1000 } ? text[..1000] : text;

    private static NpgsqlParameter Text(string name, string? value) => new(name, NpgsqlDbType.Text) { Value = (object?)value ?? DBNull.Value };
}
