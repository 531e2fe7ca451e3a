using System.Text.Json;
using Kiln.Contracts;
using Kiln.Store.Identity;
using Npgsql;

namespace Kiln.Store.Packaging;

/// <summary>A source package published in a repository: its .dsc in the pool.</summary>
public sealed record PublishedSource(long RepositoryId, string Package, string Version, string Filename, string Sha256, long Size);

/// <summary>One item of a rebuild still to submit.</summary>
public sealed record PendingRebuildItem(string Package, string Version, long UploadId);

/// <summary>A rebuild's own fields.</summary>
public sealed record RebuildRecord(long Id, string Project, string Suite, DateTimeOffset CreatedAt, SourceBuildOptions Options);

/// <summary>
/// Mass rebuilds: which source packages a project's repository publishes for a suite, the rebuild
/// and its items (planned in one transaction, submitted in batches: an item's workflow is set once
/// submitted), and the rebuild's state counted from its items' workflows.
/// </summary>
public sealed class RebuildStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    // The newest .dsc per source package is what the repository serves now; source_package names the
    // source when the publisher recorded it, else the row's package is the source's own name.
    private const string PublishedSql = """
        SELECT DISTINCT ON (COALESCE(rp.source_package, rp.package))
               r.id, COALESCE(rp.source_package, rp.package), rp.version, rp.filename, rp.sha256, rp.size
        FROM repositories r JOIN repository_packages rp ON rp.repository_id = r.id
        WHERE r.project_id = @project AND r.suite = @suite AND rp.filename LIKE '%.dsc'
          AND (cardinality(@names) = 0 OR COALESCE(rp.source_package, rp.package) = ANY (@names))
        ORDER BY COALESCE(rp.source_package, rp.package), rp.published_at DESC, rp.filename DESC
        LIMIT @limit
        """;

    private const string PoolFilesSql = "SELECT filename, sha256, size FROM repository_packages WHERE repository_id = @repo AND filename = ANY (@names)";

    // ON CONFLICT: the same packages, versions and options asked again are the same rebuild.
    private const string InsertSql = """
        INSERT INTO rebuilds (project_id, suite, requested_by, created_at, content_key, options)
        VALUES (@project, @suite, @user, @now, @key, @options::jsonb)
        ON CONFLICT (project_id, content_key) WHERE content_key IS NOT NULL DO NOTHING
        RETURNING id
        """;

    private const string ExistingSql = "SELECT id FROM rebuilds WHERE project_id = @project AND content_key = @key";

    private const string InsertItemSql = "INSERT INTO rebuild_items (rebuild_id, package, version, upload_id) VALUES (@id, @package, @version, @upload)";

    private const string OfRebuildSql = """
        SELECT p.id, p.name, p.visibility = 'private', b.requested_by
        FROM rebuilds b JOIN projects p ON p.id = b.project_id WHERE b.id = @id
        """;

    private const string GetSql = """
        SELECT p.name, b.suite, b.created_at, b.options::text
        FROM rebuilds b JOIN projects p ON p.id = b.project_id WHERE b.id = @id
        """;

    private const string PendingSql = """
        SELECT package, version, upload_id FROM rebuild_items
        WHERE rebuild_id = @id AND workflow_id IS NULL AND upload_id IS NOT NULL
        ORDER BY package LIMIT @limit
        """;

    private const string SetWorkflowSql = "UPDATE rebuild_items SET workflow_id = @workflow WHERE rebuild_id = @id AND package = @package";

    // An item without a workflow is still to submit (or its workflow was deleted): 'pending'.
    private const string CountsSql = """
        SELECT COALESCE(w.state, 'pending'), count(*)::int
        FROM rebuild_items i LEFT JOIN workflows w ON w.id = i.workflow_id
        WHERE i.rebuild_id = @id GROUP BY 1
        """;

    // The first failed job names what broke (the build of one architecture, usually).
    private const string FailuresSql = """
        SELECT i.package, i.version, w.id,
               (SELECT r.name FROM work_requests r WHERE r.workflow_id = w.id AND r.state = 'failed' ORDER BY r.id LIMIT 1)
        FROM rebuild_items i JOIN workflows w ON w.id = i.workflow_id
        WHERE i.rebuild_id = @id AND w.state IN ('failed', 'cancelled')
        ORDER BY i.package LIMIT @limit
        """;

    public async Task<IReadOnlyList<PublishedSource>> PublishedAsync(long projectId, string suite, IReadOnlyList<string> names, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(PublishedSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        cmd.Parameters.Add(new NpgsqlParameter<string>("suite", suite));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("names", [.. names]));
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit));
        var found = new List<PublishedSource>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            found.Add(new PublishedSource(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetInt64(5)));
        }
        return found;
    }

    /// <summary>The pool files of a repository with these pool paths, by path.</summary>
    public async Task<IReadOnlyDictionary<string, (string Sha256, long Size)>> PoolFilesAsync(long repositoryId, IReadOnlyList<string> filenames, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(PoolFilesSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("repo", repositoryId));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("names", [.. filenames]));
        var found = new Dictionary<string, (string, long)>(StringComparer.Ordinal);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            found[reader.GetString(0)] = (reader.GetString(1), reader.GetInt64(2));
        }
        return found;
    }

    /// <summary>Records a rebuild and its items in one transaction; the existing rebuild when the same one was asked before.</summary>
    public async Task<(long Id, bool Created)> CreateAsync(
        long projectId, string suite, long? userId, SourceBuildOptions options, string contentKey, IReadOnlyList<PendingRebuildItem> items, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        long? id;
        await using (var cmd = new NpgsqlCommand(InsertSql, connection, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            cmd.Parameters.Add(new NpgsqlParameter<string>("suite", suite));
            cmd.Parameters.Add(new NpgsqlParameter("user", (object?)userId ?? DBNull.Value));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            cmd.Parameters.Add(new NpgsqlParameter<string>("key", contentKey));
            cmd.Parameters.Add(new NpgsqlParameter<string>("options", JsonSerializer.Serialize(options, KilnClient.Json)));
            id = await cmd.ExecuteScalarAsync(ct) as long?;
        }
        if (id is null)
        {
            await tx.RollbackAsync(ct);
            await using var existing = dataSource.CreateCommand(ExistingSql);
            existing.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            existing.Parameters.Add(new NpgsqlParameter<string>("key", contentKey));
            return ((long)(await existing.ExecuteScalarAsync(ct))!, false);
        }
        var batch = new NpgsqlBatch(connection, tx);
        foreach (var item in items)
        {
            var command = new NpgsqlBatchCommand(InsertItemSql);
            command.Parameters.Add(new NpgsqlParameter<long>("id", id.Value));
            command.Parameters.Add(new NpgsqlParameter<string>("package", item.Package));
            command.Parameters.Add(new NpgsqlParameter<string>("version", item.Version));
            command.Parameters.Add(new NpgsqlParameter<long>("upload", item.UploadId));
            batch.BatchCommands.Add(command);
        }
        if (items.Count > 0)
        {
            await batch.ExecuteNonQueryAsync(ct);
        }
        await batch.DisposeAsync();
        await tx.CommitAsync(ct);
        return (id.Value, true);
    }

    public async Task<ProjectOfResource?> OfRebuildAsync(long id, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(OfRebuildSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new ProjectOfResource(reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2), reader.IsDBNull(3) ? null : reader.GetInt64(3))
            : null;
    }

    public async Task<RebuildRecord?> GetAsync(long id, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(GetSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        var options = JsonSerializer.Deserialize<SourceBuildOptions>(reader.GetString(3), KilnClient.Json) ?? new SourceBuildOptions();
        return new RebuildRecord(id, reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2), options);
    }

    public async Task<IReadOnlyList<PendingRebuildItem>> PendingAsync(long id, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(PendingSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit));
        var items = new List<PendingRebuildItem>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(new PendingRebuildItem(reader.GetString(0), reader.GetString(1), reader.GetInt64(2)));
        }
        return items;
    }

    public async Task SetWorkflowAsync(long id, string package, long workflowId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(SetWorkflowSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        cmd.Parameters.Add(new NpgsqlParameter<string>("package", package));
        cmd.Parameters.Add(new NpgsqlParameter<long>("workflow", workflowId));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The items counted by their workflow's state ('pending': not submitted yet).</summary>
    public async Task<IReadOnlyDictionary<string, int>> CountsAsync(long id, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(CountsSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            counts[reader.GetString(0)] = reader.GetInt32(1);
        }
        return counts;
    }

    public async Task<IReadOnlyList<RebuildFailure>> FailuresAsync(long id, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(FailuresSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit));
        var failures = new List<RebuildFailure>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            failures.Add(new RebuildFailure(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
        }
        return failures;
    }
}
