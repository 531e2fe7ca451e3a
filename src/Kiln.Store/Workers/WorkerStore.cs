using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.Store.Workers;

/// <summary>
/// Worker registration and authentication. A worker registers with the farm's registration
/// token and receives its own secret; only the secret's SHA-256 is stored. Authentication
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
    /// Re-registering a name (a restarted worker) updates its capabilities and rotates its
    /// secret; a removed worker's row is revived (its history stays with it). A disabled
    /// worker's row is left alone and no id is returned: registration is refused.
    /// </summary>
    private const string RegisterSql = """
        INSERT INTO workers (name, secret_hash, architectures, tags, queues, slots, registered_at, last_seen_at)
        VALUES (@name, @hash, @architectures, @tags, @queues, @slots, @now, @now)
        ON CONFLICT (name) DO UPDATE SET
            secret_hash = excluded.secret_hash, architectures = excluded.architectures, tags = excluded.tags,
            queues = excluded.queues, slots = excluded.slots, registered_at = excluded.registered_at, last_seen_at = excluded.last_seen_at,
            removed_at = NULL
        WHERE workers.disabled_at IS NULL
        RETURNING id
        """;

    /// <summary>
    /// The leases a worker holds, read when it registers again under its name: a restarted
    /// worker has killed its leftovers, so each is handed back (released, the attempt not
    /// charged) at once instead of waiting for its lease to expire and counting as lost.
    /// </summary>
    private const string HeldLeasesSql = """
        SELECT id, lease_token FROM work_requests WHERE worker_id = @worker AND state = 'running' ORDER BY id
        """;

    /// <summary>A disabled or removed worker's secret authenticates nobody.</summary>
    private const string AuthenticateSql = """
        SELECT id, name, architectures, tags, queues, slots FROM workers
        WHERE secret_hash = @hash AND disabled_at IS NULL AND removed_at IS NULL
        """;

    /// <summary>Read only after a secret was refused, to say why: the worker was disabled.</summary>
    private const string DisabledNameSql = """
        SELECT name FROM workers WHERE secret_hash = @hash AND disabled_at IS NOT NULL AND removed_at IS NULL
        """;

    private const string ViewColumns = """
        k.id, k.name, k.architectures, k.tags, k.queues, k.slots,
               (SELECT count(*) FROM work_requests w WHERE w.worker_id = k.id AND w.state = 'running'),
               k.registered_at, k.last_seen_at, k.disabled_at
        """;

    /// <summary>Removed workers are not listed (their rows stay for the attempts' history).</summary>
    private const string ListSql = "SELECT " + ViewColumns + """

        FROM workers k
        WHERE (@after IS NULL OR k.id > @after) AND k.removed_at IS NULL
        ORDER BY k.id LIMIT @limit
        """;

    private readonly ConcurrentDictionary<string, (WorkerIdentity Worker, DateTimeOffset Until)> _cache = new();

    /// <returns>The worker's id and new secret, or null when an operator has disabled a worker of that name.</returns>
    public async Task<(long Id, string Secret)?> RegisterAsync(RegisterWorkerRequest request, CancellationToken ct)
    {
        var secret = Core.Security.TokenFormat.New(Core.Security.TokenKind.Worker);
        await using var cmd = dataSource.CreateCommand(RegisterSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", request.Name));
        cmd.Parameters.Add(new NpgsqlParameter<byte[]>("hash", Hash(secret)));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("architectures", [.. request.Architectures ?? []]));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("tags", [.. request.Tags ?? []]));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("queues", [.. request.Queues is { Count: > 0 } q ? q : [Core.Names.DefaultQueue]]));
        cmd.Parameters.Add(new NpgsqlParameter<int>("slots", request.Slots));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        if (await cmd.ExecuteScalarAsync(ct) is not long id)
        {
            return null;
        }
        // A rotated secret must stop working here at once (other replicas: within CacheFor).
        Forget(id);
        return (id, secret);
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
        var worker = new WorkerIdentity(reader.GetInt64(0), reader.GetString(1), reader.GetFieldValue<string[]>(2),
            reader.GetFieldValue<string[]>(3), reader.GetFieldValue<string[]>(4), reader.GetInt32(5));
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
            reader.GetFieldValue<DateTimeOffset>(8), reader.IsDBNull(9) ? null : reader.GetFieldValue<DateTimeOffset>(9));

    internal static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));
}
