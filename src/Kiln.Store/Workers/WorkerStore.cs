using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.Store.Workers;

/// <summary>
/// Worker registration and authentication. A worker registers with a registration token of a
/// pool (<see cref="RegistrationTokenStore"/>) and receives its own secret; only the secret's SHA-256 is stored. Authentication
/// results are cached briefly (<see cref="CacheFor"/>) so that claims and heartbeats do not each
/// cost a lookup. Operators disable, enable and remove workers here too (see <c>docs/api.md</c>).
/// </summary>
public sealed partial class WorkerStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>
    /// How long a replica trusts a secret it has checked: a secret disabled, removed or
    /// rotated on another replica keeps working there for at most this long (on the replica
    /// that made the change it stops at once). Claims check the worker's row themselves, so a
    /// disabled worker is handed no work anywhere even while its secret is still cached.
    /// </summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Enrols a worker into a pool (the pool of the registration token it presented; null: the
    /// default pool). Re-registering a name (a restarted worker) updates its capabilities and
    /// rotates its secret, and keeps its approval; a removed worker's row is revived (its history
    /// stays with it) and enrols afresh, in the new pool, waiting for approval if that pool wants
    /// it. No id is returned, and the row is left alone, when registration is refused: the worker
    /// is disabled, or the name is enrolled in another pool — a token of one pool must not take
    /// over another pool's worker (and with it that pool's work and secrets).
    /// </summary>
    private const string RegisterSql = """
        WITH pool AS (
            SELECT id, approval_required FROM worker_pools
            WHERE id = coalesce(@pool, (SELECT id FROM worker_pools WHERE name = 'default'))
        )
        INSERT INTO workers (name, secret_hash, architectures, tags, queues, slots, registered_at, last_seen_at, pool_id, approved_at)
        SELECT @name, @hash, @architectures, @tags, @queues, @slots, @now, @now, pool.id, CASE WHEN pool.approval_required THEN NULL ELSE @now END
        FROM pool
        ON CONFLICT (name) DO UPDATE SET
            secret_hash = excluded.secret_hash, architectures = excluded.architectures, tags = excluded.tags,
            queues = excluded.queues, slots = excluded.slots, registered_at = excluded.registered_at, last_seen_at = excluded.last_seen_at,
            pool_id = excluded.pool_id,
            approved_at = CASE WHEN workers.removed_at IS NOT NULL THEN excluded.approved_at ELSE workers.approved_at END,
            removed_at = NULL
        WHERE workers.disabled_at IS NULL
          AND (workers.removed_at IS NOT NULL OR workers.pool_id IS NOT DISTINCT FROM excluded.pool_id)
        RETURNING id, approved_at IS NOT NULL, (SELECT name FROM worker_pools p WHERE p.id = workers.pool_id)
        """;

    /// <summary>Read only after a registration was refused, to say why.</summary>
    private const string RefusalSql = """
        SELECT k.disabled_at IS NOT NULL, coalesce(p.name, '') FROM workers k LEFT JOIN worker_pools p ON p.id = k.pool_id WHERE k.name = @name
        """;

    /// <summary>
    /// The leases a worker holds, read when it registers again under its name: a restarted
    /// worker has killed its leftovers, so each is handed back (released, the attempt not
    /// charged) at once instead of waiting for its lease to expire and counting as lost.
    /// </summary>
    private const string HeldLeasesSql = """
        SELECT id, lease_token FROM work_requests WHERE worker_id = @worker AND state = 'running' ORDER BY id
        """;

    /// <summary>A disabled or removed worker's secret authenticates nobody. The pool comes with the worker.</summary>
    private const string AuthenticateSql = """
        SELECT k.id, k.name, k.architectures, k.tags, k.queues, k.slots,
               p.id, p.name, p.queues, p.project_ids, p.exclude_private, k.approved_at IS NOT NULL
        FROM workers k JOIN worker_pools p ON p.id = k.pool_id
        WHERE k.secret_hash = @hash AND k.disabled_at IS NULL AND k.removed_at IS NULL
        """;

    /// <summary>Whether the worker is approved now (the cached identity may be older than an approval).</summary>
    private const string ApprovedSql = "SELECT approved_at IS NOT NULL FROM workers WHERE id = @worker";

    /// <summary>Read only after a secret was refused, to say why: the worker was disabled.</summary>
    private const string DisabledNameSql = """
        SELECT name FROM workers WHERE secret_hash = @hash AND disabled_at IS NOT NULL AND removed_at IS NULL
        """;

    private const string ViewColumns = """
        k.id, k.name, k.architectures, k.tags, k.queues, k.slots,
               (SELECT count(*) FROM work_requests w WHERE w.worker_id = k.id AND w.state = 'running'),
               k.registered_at, k.last_seen_at, k.disabled_at,
               (SELECT p.name FROM worker_pools p WHERE p.id = k.pool_id), k.approved_at
        """;

    /// <summary>Removed workers are not listed (their rows stay for the attempts' history).</summary>
    private const string ListSql = "SELECT " + ViewColumns + """

        FROM workers k
        WHERE (@after IS NULL OR k.id > @after) AND k.removed_at IS NULL
        ORDER BY k.id LIMIT @limit
        """;

    private readonly ConcurrentDictionary<string, (WorkerIdentity Worker, DateTimeOffset Until)> _cache = new();

    /// <summary>Registers into the default pool (tests and benchmarks; the API goes through <see cref="EnrolAsync"/>).</summary>
    /// <returns>The worker's id and new secret, or null when registration was refused.</returns>
    public async Task<(long Id, string Secret)?> RegisterAsync(RegisterWorkerRequest request, CancellationToken ct) =>
        await EnrolAsync(request, null, ct) is { Id: { } id, Secret: { } secret } ? (id, secret) : null;

    /// <summary>Registers the worker into <paramref name="poolId"/> (null: the default pool); see <see cref="RegisterSql"/>.</summary>
    public async Task<WorkerEnrolment> EnrolAsync(RegisterWorkerRequest request, long? poolId, CancellationToken ct)
    {
        var secret = Core.Security.TokenFormat.New(Core.Security.TokenKind.Worker);
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using (var cmd = new NpgsqlCommand(RegisterSql, conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", request.Name));
            cmd.Parameters.Add(new NpgsqlParameter<byte[]>("hash", Hash(secret)));
            cmd.Parameters.Add(new NpgsqlParameter<string[]>("architectures", [.. request.Architectures ?? []]));
            cmd.Parameters.Add(new NpgsqlParameter<string[]>("tags", [.. request.Tags ?? []]));
            cmd.Parameters.Add(new NpgsqlParameter<string[]>("queues", [.. request.Queues is { Count: > 0 } q ? q : [Core.Names.DefaultQueue]]));
            cmd.Parameters.Add(new NpgsqlParameter<int>("slots", request.Slots));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            cmd.Parameters.Add(new NpgsqlParameter<long?>("pool", poolId));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (await reader.ReadAsync(ct))
            {
                var id = reader.GetInt64(0);
                // A rotated secret must stop working here at once (other replicas: within CacheFor).
                Forget(id);
                return new WorkerEnrolment(id, secret, reader.GetBoolean(1), false, null, reader.GetString(2));
            }
        }
        await using var why = new NpgsqlCommand(RefusalSql, conn);
        why.Parameters.Add(new NpgsqlParameter<string>("name", request.Name));
        await using var refusal = await why.ExecuteReaderAsync(ct);
        if (!await refusal.ReadAsync(ct))
        {
            // No such worker and nothing inserted: the token's pool was deleted meanwhile.
            return new WorkerEnrolment(null, null, false, false, null);
        }
        return refusal.GetBoolean(0)
            ? new WorkerEnrolment(null, null, false, true, null)
            : new WorkerEnrolment(null, null, false, false, refusal.GetString(1));
    }

    /// <summary>Whether the worker is approved now, read from its row.</summary>
    public async Task<bool> IsApprovedAsync(long workerId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ApprovedSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("worker", workerId));
        return await cmd.ExecuteScalarAsync(ct) is true;
    }

    /// <summary>Leases <paramref name="workerId"/> holds now (running work), in id order.</summary>
    public async Task<IReadOnlyList<LeaseRef>> HeldLeasesAsync(long workerId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(HeldLeasesSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("worker", workerId));
        var held = new List<LeaseRef>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            held.Add(new LeaseRef(reader.GetInt64(0), reader.GetGuid(1)));
        }
        return held;
    }

    public async Task<WorkerIdentity?> AuthenticateAsync(string secret, CancellationToken ct)
    {
        var key = Convert.ToHexString(Hash(secret));
        var now = time.GetUtcNow();
        if (_cache.TryGetValue(key, out var cached) && cached.Until > now)
        {
            return cached.Worker;
        }
        await using var cmd = dataSource.CreateCommand(AuthenticateSql);
        cmd.Parameters.Add(new NpgsqlParameter<byte[]>("hash", Hash(secret)));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            _cache.TryRemove(key, out _);
            return null;
        }
        var pool = new PoolScope(reader.GetInt64(6), reader.GetString(7), reader.GetFieldValue<string[]>(8), reader.GetFieldValue<long[]>(9), reader.GetBoolean(10));
        var worker = new WorkerIdentity(reader.GetInt64(0), reader.GetString(1), reader.GetFieldValue<string[]>(2),
            reader.GetFieldValue<string[]>(3), reader.GetFieldValue<string[]>(4), reader.GetInt32(5), pool, reader.GetBoolean(11));
        _cache[key] = (worker, now + CacheFor);
        return worker;
    }

    /// <summary>The name of the disabled worker whose secret this is, if it is one.</summary>
    public async Task<string?> DisabledNameAsync(string secret, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(DisabledNameSql);
        cmd.Parameters.Add(new NpgsqlParameter<byte[]>("hash", Hash(secret)));
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    /// <summary>Drops this replica's cached authentications of the pool's workers: a changed pool applies to them at once here.</summary>
    public void ForgetPool(long poolId)
    {
        foreach (var (key, entry) in _cache)
        {
            if (entry.Worker.Pool.Id == poolId)
            {
                _cache.TryRemove(key, out _);
            }
        }
    }

    /// <summary>Drops this replica's cached authentications of <paramref name="workerId"/>: its secret is checked anew.</summary>
    internal void Forget(long workerId)
    {
        foreach (var (key, entry) in _cache)
        {
            if (entry.Worker.Id == workerId)
            {
                _cache.TryRemove(key, out _);
            }
        }
    }

    public async Task<Page<WorkerView>> ListAsync(long? after, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        var items = new List<WorkerView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(ReadView(reader));
        }
        return Paging.Of(items, limit, v => v.Id);
    }

    internal static WorkerView ReadView(NpgsqlDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), reader.GetFieldValue<string[]>(2), reader.GetFieldValue<string[]>(3),
            reader.GetFieldValue<string[]>(4), reader.GetInt32(5), (int)reader.GetInt64(6), reader.GetFieldValue<DateTimeOffset>(7),
            reader.GetFieldValue<DateTimeOffset>(8), reader.IsDBNull(9) ? null : reader.GetFieldValue<DateTimeOffset>(9),
            reader.IsDBNull(10) ? null : reader.GetString(10), reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTimeOffset>(11));

    internal static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));
}
