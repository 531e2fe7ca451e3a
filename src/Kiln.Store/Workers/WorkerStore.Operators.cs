using Npgsql;

namespace Kiln.Store.Workers;

/// <summary>
/// What operators do to a worker: disable (block it), enable (let it register again) and
/// remove (retire it from the lists). The caller hands a disabled worker's work back
/// (<see cref="HeldLeasesAsync"/>, released through the reports' fenced end) after
/// <see cref="DisableAsync"/> has committed, so a claim racing the disable finds the row
/// disabled or its work is among the leases read.
/// </summary>
public sealed partial class WorkerStore
{
    /// <summary>
    /// Marks the worker disabled; a worker already disabled keeps its first time and is not
    /// written again. Its secret stays stored only so that a refused request can say why
    /// (<see cref="DisabledNameAsync"/>): it authenticates nothing while disabled.
    /// </summary>
    private const string DisableSql = """
        WITH target AS (
            SELECT id, disabled_at FROM workers WHERE name = @name AND removed_at IS NULL
        ), changed AS (
            UPDATE workers k SET disabled_at = @now FROM target t WHERE k.id = t.id AND t.disabled_at IS NULL RETURNING k.id
        )
        SELECT t.id, (SELECT count(*) FROM changed) FROM target t
        """;

    /// <summary>
    /// Clears the mark and the old secret with it: the worker gets a new secret by registering
    /// again (the empty hash matches no SHA-256). An enabled worker is not written again.
    /// </summary>
    private const string EnableSql = """
        WITH target AS (
            SELECT id, disabled_at FROM workers WHERE name = @name AND removed_at IS NULL
        ), changed AS (
            UPDATE workers k SET disabled_at = NULL, secret_hash = '\x'::bytea
            FROM target t WHERE k.id = t.id AND t.disabled_at IS NOT NULL RETURNING k.id
        )
        SELECT t.id, (SELECT count(*) FROM changed) FROM target t
        """;

    /// <summary>Lets a worker of a pool that requires approval claim work; an approved worker is not written again.</summary>
    private const string ApproveSql = """
        WITH target AS (
            SELECT id, approved_at FROM workers WHERE name = @name AND removed_at IS NULL
        ), changed AS (
            UPDATE workers k SET approved_at = @now FROM target t WHERE k.id = t.id AND t.approved_at IS NULL RETURNING k.id
        )
        SELECT t.id, (SELECT count(*) FROM changed) FROM target t
        """;

    /// <summary>Locks the worker's row so that its removal is decided on what it holds now.</summary>
    private const string LockByNameSql = """
        SELECT id FROM workers WHERE name = @name AND removed_at IS NULL FOR UPDATE
        """;

    /// <summary>What a worker runs, to name in a refusal (a few are enough to act on).</summary>
    private const string RunningSql = """
        SELECT w.id, w.workflow_id, w.name, count(*) OVER () FROM work_requests w
        WHERE w.worker_id = @worker AND w.state = 'running' ORDER BY w.id LIMIT 5
        """;

    /// <summary>
    /// A soft delete: the row stays so attempts keep showing the worker's name. The secret
    /// goes, and so does a disabled mark: registering the name again later starts afresh.
    /// </summary>
    private const string RemoveSql = """
        UPDATE workers SET removed_at = @now, disabled_at = NULL, secret_hash = '\x'::bytea WHERE id = @id
        """;

    private const string ViewByNameSql = "SELECT " + ViewColumns + """

        FROM workers k WHERE k.name = @name AND k.removed_at IS NULL
        """;

    /// <returns>The worker's id and whether this call disabled it (false: it was already), or null if no such worker.</returns>
    public async Task<(long Id, bool Changed)?> DisableAsync(string name, CancellationToken ct)
    {
        var result = await ChangeAsync(DisableSql, name, ct);
        if (result is { } r)
        {
            // Its secret stops working on this replica now (others: within CacheFor).
            Forget(r.Id);
        }
        return result;
    }

    /// <returns>The worker's id and whether this call enabled it (false: it was not disabled), or null if no such worker.</returns>
    public Task<(long Id, bool Changed)?> EnableAsync(string name, CancellationToken ct) => ChangeAsync(EnableSql, name, ct);

    /// <returns>The worker's id and whether this call approved it (false: it was already), or null if no such worker.</returns>
    public async Task<(long Id, bool Changed)?> ApproveAsync(string name, CancellationToken ct)
    {
        var result = await ChangeAsync(ApproveSql, name, ct);
        if (result is { } r)
        {
            Forget(r.Id);
        }
        return result;
    }

    /// <summary>Removes a worker that runs nothing.</summary>
    /// <returns>
    /// Null if no such worker; otherwise its id, how many work requests it runs, and up to five
    /// of them (id, workflow, job). Only a worker that runs none is removed.
    /// </returns>
    public async Task<(long Id, long RunningCount, IReadOnlyList<(long Id, long WorkflowId, string Job)> Running)?> RemoveAsync(string name, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        long id;
        await using (var find = new NpgsqlCommand(LockByNameSql, conn, tx))
        {
            find.Parameters.Add(new NpgsqlParameter<string>("name", name));
            if (await find.ExecuteScalarAsync(ct) is not long found)
            {
                return null;
            }
            id = found;
        }
        var running = new List<(long, long, string)>();
        long count = 0;
        await using (var held = new NpgsqlCommand(RunningSql, conn, tx))
        {
            held.Parameters.Add(new NpgsqlParameter<long>("worker", id));
            await using var reader = await held.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                running.Add((reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2)));
                count = reader.GetInt64(3);
            }
        }
        if (count > 0)
        {
            return (id, count, running);
        }
        await using (var remove = new NpgsqlCommand(RemoveSql, conn, tx))
        {
            remove.Parameters.Add(new NpgsqlParameter<long>("id", id));
            remove.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            await remove.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        Forget(id);
        return (id, 0, running);
    }

    /// <summary>A listed (not removed) worker by name.</summary>
    public async Task<Contracts.WorkerView?> GetAsync(string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ViewByNameSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadView(reader) : null;
    }

    /// <summary>The id of a listed (not removed) worker, or null.</summary>
    public async Task<long?> IdOfAsync(string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("SELECT id FROM workers WHERE name = @name AND removed_at IS NULL");
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        return await cmd.ExecuteScalarAsync(ct) is long id ? id : null;
    }

    private async Task<(long Id, bool Changed)?> ChangeAsync(string sql, string name, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
        if (sql.Contains("@now", StringComparison.Ordinal))
        {
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        }
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetInt64(0), reader.GetInt64(1) > 0) : null;
    }
}
