using System.Security.Cryptography;
using Kiln.Contracts;
using Kiln.Store.Identity;
using Kiln.Store.Secrets;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Outbox;

/// <summary>What the webhook sender needs of a subscription: where to POST, the secret opened, whether it is on.</summary>
public sealed record WebhookForSending(long Id, long ProjectId, string Project, string Url, string Secret, bool Enabled);

/// <summary>A stored delivery, for a redelivery: its body and webhook-id.</summary>
public sealed record StoredDelivery(long Id, string? MessageId, string? EventType, byte[]? Body, string State);

/// <summary>
/// A project's outgoing webhooks (<c>webhook_subscriptions</c>, docs/outgoing-webhooks.md). The
/// Standard Webhooks signing secret (<c>whsec_</c> + base64 of 32 random bytes) is made by Kiln,
/// sealed by the farm's <see cref="SecretBox"/> bound to the project and the subscription (as
/// <see cref="Events.RepositoryLinkStore"/> seals link secrets), and returned once by
/// <see cref="CreateAsync"/> and <see cref="RotateAsync"/>, never again. Every change is audited, never with the secret.
/// </summary>
public sealed class WebhookSubscriptionStore(NpgsqlDataSource dataSource, SecretBox box, AuditStore audit, TimeProvider time)
{
    /// <summary>Most subscriptions a project holds: a list of them needs no paging.</summary>
    public const int MaxPerProject = 20;

    public static readonly IReadOnlyList<string> AllEvents = ["workflow", "job", "event"];

    private const string ViewColumns = """
        s.id, p.name, s.url, s.events, s.enabled, s.description, s.created_at, u.name, s.secret_key_id
        """;

    private const string From = """
        webhook_subscriptions s JOIN projects p ON p.id = s.project_id LEFT JOIN users u ON u.id = s.created_by
        """;

    private const string CreateSql = """
        INSERT INTO webhook_subscriptions (id, project_id, url, secret_sealed, secret_key_id, events, enabled, description, created_by, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT @id, @project, @url, @secret, @key_id, @events, true, @description, @user, @now
        WHERE (SELECT count(*) FROM webhook_subscriptions WHERE project_id = @project) < @max
        """;

    private const string UpdateSql = """
        UPDATE webhook_subscriptions SET enabled = COALESCE(@enabled, enabled), events = COALESCE(@events, events),
            url = COALESCE(@url, url), description = CASE WHEN @set_description THEN @description ELSE description END
        WHERE id = @id
        """;

    private const string RotateSql = "UPDATE webhook_subscriptions SET secret_sealed = @secret, secret_key_id = @key_id WHERE id = @id";

    private const string DisableSql = "UPDATE webhook_subscriptions SET enabled = false WHERE id = @id AND enabled";

    private const string DeleteSql = "DELETE FROM webhook_subscriptions WHERE id = @id RETURNING url";

    private const string OwnerSql = """
        SELECT p.id, p.name, p.visibility = 'private' FROM webhook_subscriptions s JOIN projects p ON p.id = s.project_id WHERE s.id = @id
        """;

    private const string DeliveryOwnerSql = """
        SELECT p.id, p.name, p.visibility = 'private', s.id FROM status_deliveries d
        JOIN status_targets t ON t.id = d.target_id
        JOIN webhook_subscriptions s ON s.id = t.subscription_id
        JOIN projects p ON p.id = s.project_id
        WHERE d.id = @id
        """;

    private const string SendingSql = """
        SELECT s.id, s.project_id, p.name, s.url, s.secret_sealed, s.secret_key_id, s.enabled
        FROM webhook_subscriptions s JOIN projects p ON p.id = s.project_id WHERE s.id = @id
        """;

    /// <summary>Newest first, keyset on the delivery id.</summary>
    private const string DeliveriesSql = """
        SELECT d.id, d.target_id, d.message_id, d.event_type, d.state, d.status_code, d.answer, d.error, d.duration_ms, d.attempted_at, d.redelivery_of
        FROM status_deliveries d JOIN status_targets t ON t.id = d.target_id
        WHERE t.subscription_id = @id AND (@after::bigint IS NULL OR d.id < @after)
        ORDER BY d.id DESC
        LIMIT @limit
        """;

    private const string StoredSql = "SELECT id, message_id, event_type, body, state FROM status_deliveries WHERE id = @id";

    /// <summary>Asks the channel to send the delivery's stored body again, now; wakes the sender.</summary>
    private const string RedeliverSql = """
        WITH asked AS (
            UPDATE status_targets t SET redeliver_id = d.id, next_attempt_at = @now, done = false
            FROM status_deliveries d WHERE d.id = @id AND t.id = d.target_id AND d.body IS NOT NULL
            RETURNING t.id
        )
        SELECT count(*), pg_notify('kiln_status', '') FROM asked
        """;

    /// <summary>A new signing secret: whsec_ and base64 of 32 random bytes (Standard Webhooks).</summary>
    public static string NewSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>Creates a subscription; null when the project holds <see cref="MaxPerProject"/> already.</summary>
    public async Task<WebhookSecretView?> CreateAsync(
        long projectId, string projectName, string url, IReadOnlyList<string> events, string? description, AuditActor actor, long? userId, CancellationToken ct)
    {
        var secret = NewSecret();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        long id;
        await using (var next = new NpgsqlCommand("SELECT nextval(pg_get_serial_sequence('webhook_subscriptions', 'id'))", conn, tx))
        {
            id = (long)(await next.ExecuteScalarAsync(ct))!;
        }
        await using (var cmd = new NpgsqlCommand(CreateSql, conn, tx))
        {
            var p = cmd.Parameters;
            p.Add(new NpgsqlParameter<long>("id", id));
            p.Add(new NpgsqlParameter<long>("project", projectId));
            p.Add(new NpgsqlParameter<string>("url", url));
            p.Add(new NpgsqlParameter<byte[]>("secret", box.Seal(projectId, SealName(id), secret)));
            p.Add(new NpgsqlParameter<string>("key_id", box.KeyId));
            p.Add(new NpgsqlParameter<string[]>("events", [.. events]));
            p.Add(Text("description", description));
            p.Add(new NpgsqlParameter("user", NpgsqlDbType.Bigint) { Value = (object?)userId ?? DBNull.Value });
            p.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            p.Add(new NpgsqlParameter<int>("max", MaxPerProject));
            if (await cmd.ExecuteNonQueryAsync(ct) == 0)
            {
                return null;
            }
        }
        await audit.RecordAsync(actor, "webhook.create", $"project:{projectName}", new { webhook = id, url, events, description }, ct, conn);
        await tx.CommitAsync(ct);
        return new WebhookSecretView((await GetAsync(id, ct))!, secret);
    }

    public async Task<IReadOnlyList<WebhookView>> ListAsync(long projectId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand($"SELECT {ViewColumns} FROM {From} WHERE s.project_id = @project ORDER BY s.id", conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var list = new List<WebhookView>();
        while (await reader.ReadAsync(ct))
        {
            list.Add(Read(reader));
        }
        return list;
    }

    public async Task<WebhookView?> GetAsync(long id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand($"SELECT {ViewColumns} FROM {From} WHERE s.id = @id", conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    /// <summary>The project subscription <paramref name="id"/> belongs to, or null.</summary>
    public async Task<ProjectOfResource?> OwnerAsync(long id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(OwnerSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? new ProjectOfResource(reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2), null) : null;
    }

    /// <summary>The project and subscription of a delivery, or null when it is no webhook's delivery.</summary>
    public async Task<(ProjectOfResource Project, long SubscriptionId)?> DeliveryOwnerAsync(long deliveryId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(DeliveryOwnerSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", deliveryId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? (new ProjectOfResource(reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2), null), reader.GetInt64(3))
            : null;
    }

    /// <summary>Changes what is given (description: <paramref name="setDescription"/>); false when there is no such subscription.</summary>
    public async Task<bool> UpdateAsync(
        long id, string projectName, bool? enabled, IReadOnlyList<string>? events, string? url, bool setDescription, string? description, AuditActor actor, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand(UpdateSql, conn, tx))
        {
            var p = cmd.Parameters;
            p.Add(new NpgsqlParameter<long>("id", id));
            p.Add(new NpgsqlParameter("enabled", NpgsqlDbType.Boolean) { Value = (object?)enabled ?? DBNull.Value });
            p.Add(new NpgsqlParameter("events", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = events is null ? DBNull.Value : events.ToArray() });
            p.Add(Text("url", url));
            p.Add(new NpgsqlParameter<bool>("set_description", setDescription));
            p.Add(Text("description", description));
            if (await cmd.ExecuteNonQueryAsync(ct) == 0)
            {
                return false;
            }
        }
        await audit.RecordAsync(actor, "webhook.update", $"project:{projectName}", new { webhook = id, enabled, events, url, description }, ct, conn);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>A new secret for the subscription, returned this once; null when there is no such subscription.</summary>
    public async Task<string?> RotateAsync(long id, long projectId, string projectName, AuditActor actor, CancellationToken ct)
    {
        var secret = NewSecret();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand(RotateSql, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            cmd.Parameters.Add(new NpgsqlParameter<byte[]>("secret", box.Seal(projectId, SealName(id), secret)));
            cmd.Parameters.Add(new NpgsqlParameter<string>("key_id", box.KeyId));
            if (await cmd.ExecuteNonQueryAsync(ct) == 0)
            {
                return null;
            }
        }
        await audit.RecordAsync(actor, "webhook.rotate-secret", $"project:{projectName}", new { webhook = id }, ct, conn);
        await tx.CommitAsync(ct);
        return secret;
    }

    /// <summary>Turns the subscription off (the receiver answered 410 Gone); audited as the system.</summary>
    public async Task DisableAsync(long id, string projectName, string reason, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand(DisableSql, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            if (await cmd.ExecuteNonQueryAsync(ct) == 0)
            {
                return;
            }
        }
        await audit.RecordAsync(AuditActor.System, "webhook.disable", $"project:{projectName}", new { webhook = id, reason }, ct, conn);
        await tx.CommitAsync(ct);
    }

    public async Task<bool> DeleteAsync(long id, string projectName, AuditActor actor, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        string url;
        await using (var cmd = new NpgsqlCommand(DeleteSql, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            if (await cmd.ExecuteScalarAsync(ct) is not string found)
            {
                return false;
            }
            url = found;
        }
        await audit.RecordAsync(actor, "webhook.delete", $"project:{projectName}", new { webhook = id, url }, ct, conn);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>The subscription with its secret opened, for the sender; null when it was removed.</summary>
    /// <exception cref="CryptographicException">The secret was sealed under another key.</exception>
    public async Task<WebhookForSending?> ForSendingAsync(long id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(SendingSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        var project = reader.GetInt64(1);
        var secret = box.Open(project, SealName(id), reader.GetFieldValue<byte[]>(4), reader.GetString(5));
        return new WebhookForSending(id, project, reader.GetString(2), reader.GetString(3), secret, reader.GetBoolean(6));
    }

    /// <summary>The subscription's deliveries, newest first; pass the last id as <paramref name="after"/> for older ones.</summary>
    public async Task<Page<WebhookDeliveryView>> DeliveriesAsync(long id, long? after, int limit, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(DeliveriesSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var items = new List<WebhookDeliveryView>();
        while (await reader.ReadAsync(ct))
        {
            string? S(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            items.Add(new WebhookDeliveryView(
                reader.GetInt64(0), reader.GetInt64(1), S(2), S(3), reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetInt32(5),
                S(6), S(7), reader.GetInt32(8), reader.GetFieldValue<DateTimeOffset>(9), reader.IsDBNull(10) ? null : reader.GetInt64(10)));
        }
        string? next = null;
        if (items.Count > limit)
        {
            items.RemoveAt(limit);
            next = items[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return new Page<WebhookDeliveryView>(items, next);
    }

    public async Task<StoredDelivery?> DeliveryAsync(long deliveryId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var cmd = new NpgsqlCommand(StoredSql, conn);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", deliveryId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        return new StoredDelivery(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.IsDBNull(3) ? null : reader.GetFieldValue<byte[]>(3), reader.GetString(4));
    }

    /// <summary>Marks the delivery's target for a redelivery now and wakes the sender; false when the delivery has no stored body.</summary>
    public async Task<bool> RedeliverAsync(long deliveryId, string projectName, AuditActor actor, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var cmd = new NpgsqlCommand(RedeliverSql, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", deliveryId));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            if ((long)(await cmd.ExecuteScalarAsync(ct))! == 0)
            {
                return false;
            }
        }
        await audit.RecordAsync(actor, "webhook.redeliver", $"project:{projectName}", new { delivery = deliveryId }, ct, conn);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>What a sealed secret is bound to besides its project: the subscription.</summary>
    private static string SealName(long id) => $"webhook-subscription {id} secret";

    private static NpgsqlParameter Text(string name, string? value) => new(name, NpgsqlDbType.Text) { Value = (object?)value ?? DBNull.Value };

    private static WebhookView Read(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetFieldValue<string[]>(3), r.GetBoolean(4), r.IsDBNull(5) ? null : r.GetString(5),
        r.GetFieldValue<DateTimeOffset>(6), r.IsDBNull(7) ? null : r.GetString(7), r.GetString(8));
}
