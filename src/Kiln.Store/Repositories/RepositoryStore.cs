using Kiln.Contracts;
using Npgsql;

namespace Kiln.Store.Repositories;

/// <summary>
/// The <c>repositories</c> and <c>repository_packages</c> tables: a publish holds its repository's row
/// locked (<see cref="LockAsync"/>) from reading what is published to committing what it added, so two
/// publishers of one repository run one after the other; the lists read without locks.
/// </summary>
public sealed class RepositoryStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>Made on the first publish of a suite; a concurrent first publish finds the row the other made.</summary>
    private const string EnsureSql = """
        INSERT INTO repositories (project_id, suite, format, created_at) VALUES (@project, @suite, @format, @now)
        ON CONFLICT (project_id, suite) DO NOTHING
        """;

    /// <summary>The one lock of a publish: a second publisher of the repository waits here until the first commits.</summary>
    private const string LockSql = "SELECT id, format, snapshot FROM repositories WHERE project_id = @project AND suite = @suite FOR UPDATE";

    /// <summary>
    /// Serialises the making of a project's signing key between publishers of its different suites
    /// (and replicas); released with the transaction.
    /// </summary>
    private const string KeyLockSql = "SELECT pg_advisory_xact_lock(hashtextextended('kiln.signing-key:' || @project::text, 0))";

    private const string PackageColumns = "package, version, architecture, filename, sha256, size, control, source_package, work_request_id, published_at, md5";

    private const string PackagesSql = $"SELECT {PackageColumns} FROM repository_packages WHERE repository_id = @repo ORDER BY filename";

    private const string InsertPackageSql = $"""
        INSERT INTO repository_packages ({PackageColumns}, repository_id)
        VALUES (@package, @version, @architecture, @filename, @sha256, @size, @control, @source, @work, @now, @md5, @repo)
        """;

    /// <summary>Written only when something was added: a publish that adds nothing changes no row.</summary>
    private const string PublishedSql = "UPDATE repositories SET snapshot = @snapshot, published_at = @now WHERE id = @repo";

    private const string ListSql = """
        SELECT r.suite, r.format, r.snapshot, r.published_at,
               (SELECT count(*) FROM repository_packages k WHERE k.repository_id = r.id)
        FROM repositories r WHERE r.project_id = @project ORDER BY r.suite
        """;

    private const string OneSql = """
        SELECT r.id, r.suite, r.format, r.snapshot, r.published_at,
               (SELECT count(*) FROM repository_packages k WHERE k.repository_id = r.id)
        FROM repositories r WHERE r.project_id = @project AND r.suite = @suite
        """;

    /// <summary>Keyset page by the primary key (repository_id, filename).</summary>
    private const string PageSql = $"""
        SELECT {PackageColumns} FROM repository_packages
        WHERE repository_id = @repo AND (@after::text IS NULL OR filename > @after)
        ORDER BY filename LIMIT @limit
        """;

    /// <summary>
    /// Opens the publish transaction: makes the repository if new, locks its row (waiting for another
    /// publisher), and reads what it holds. The caller commits with <see cref="RepositoryLock.CommitAsync"/> or disposes.
    /// </summary>
    public async Task<RepositoryLock> LockAsync(long projectId, string suite, string format, CancellationToken ct)
    {
        var conn = await dataSource.OpenConnectionAsync(ct);
        try
        {
            var tx = await conn.BeginTransactionAsync(ct);
            await using (var ensure = new NpgsqlCommand(EnsureSql, conn, tx))
            {
                ensure.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
                ensure.Parameters.Add(new NpgsqlParameter<string>("suite", suite));
                ensure.Parameters.Add(new NpgsqlParameter<string>("format", format));
                ensure.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
                await ensure.ExecuteNonQueryAsync(ct);
            }
            long id;
            string held;
            int snapshot;
            await using (var lockRow = new NpgsqlCommand(LockSql, conn, tx))
            {
                lockRow.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
                lockRow.Parameters.Add(new NpgsqlParameter<string>("suite", suite));
                await using var reader = await lockRow.ExecuteReaderAsync(ct);
                await reader.ReadAsync(ct);
                (id, held, snapshot) = (reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2));
            }
            var packages = new List<RepositoryPackage>();
            await using (var read = new NpgsqlCommand(PackagesSql, conn, tx))
            {
                read.Parameters.Add(new NpgsqlParameter<long>("repo", id));
                await using var reader = await read.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    packages.Add(ReadPackage(reader));
                }
            }
            return new RepositoryLock(conn, tx, time, id, held, snapshot, packages);
        }
        catch
        {
            await conn.DisposeAsync();
            throw;
        }
    }

    public async Task<IReadOnlyList<RepositorySummary>> ListAsync(long projectId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var list = new List<RepositorySummary>();
        while (await reader.ReadAsync(ct))
        {
            list.Add(new RepositorySummary(0, reader.GetString(0), reader.GetString(1), reader.GetInt32(2),
                reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3), reader.GetInt64(4)));
        }
        return list;
    }

    public async Task<RepositorySummary?> GetAsync(long projectId, string suite, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(OneSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
        cmd.Parameters.Add(new NpgsqlParameter<string>("suite", suite));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new RepositorySummary(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4), reader.GetInt64(5))
            : null;
    }

    /// <summary>Up to <paramref name="limit"/> + 1 files after <paramref name="after"/> (the extra one says a next page exists).</summary>
    public async Task<IReadOnlyList<RepositoryPackage>> PageAsync(long repositoryId, string? after, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(PageSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("repo", repositoryId));
        cmd.Parameters.Add(new NpgsqlParameter("after", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)after ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit + 1));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var list = new List<RepositoryPackage>();
        while (await reader.ReadAsync(ct))
        {
            list.Add(ReadPackage(reader));
        }
        return list;
    }

    private static RepositoryPackage ReadPackage(NpgsqlDataReader reader) => new(
        reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetInt64(5),
        reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7),
        reader.IsDBNull(8) ? null : reader.GetInt64(8), reader.GetFieldValue<DateTimeOffset>(9), reader.IsDBNull(10) ? null : reader.GetString(10));

    /// <summary>A publish in progress: the repository's row is locked until <see cref="CommitAsync"/> or disposal (rollback).</summary>
    public sealed class RepositoryLock(NpgsqlConnection conn, NpgsqlTransaction tx, TimeProvider time, long id, string format, int snapshot, IReadOnlyList<RepositoryPackage> packages) : IAsyncDisposable
    {
        public long Id => id;

        public string Format => format;

        /// <summary>The snapshot last committed (0: never published).</summary>
        public int Snapshot => snapshot;

        public IReadOnlyList<RepositoryPackage> Packages => packages;

        /// <summary>Waits for the project's signing-key lock (held to the end of the publish).</summary>
        public async Task LockSigningKeyAsync(long projectId, CancellationToken ct)
        {
            await using var cmd = new NpgsqlCommand(KeyLockSql, conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            await cmd.ExecuteNonQueryAsync(ct);
        }

        /// <summary>Records the added files and the snapshot now served, and releases the lock.</summary>
        public async Task CommitAsync(IReadOnlyList<RepositoryPackage> added, int newSnapshot, CancellationToken ct)
        {
            var now = time.GetUtcNow();
            if (added.Count > 0)
            {
                var batch = new NpgsqlBatch(conn, tx);
                foreach (var p in added)
                {
                    var command = new NpgsqlBatchCommand(InsertPackageSql);
                    command.Parameters.Add(new NpgsqlParameter<string>("package", p.Package));
                    command.Parameters.Add(new NpgsqlParameter<string>("version", p.Version));
                    command.Parameters.Add(new NpgsqlParameter<string>("architecture", p.Architecture));
                    command.Parameters.Add(new NpgsqlParameter<string>("filename", p.Filename));
                    command.Parameters.Add(new NpgsqlParameter<string>("sha256", p.Sha256));
                    command.Parameters.Add(new NpgsqlParameter<long>("size", p.Size));
                    command.Parameters.Add(new NpgsqlParameter("control", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)p.Control ?? DBNull.Value });
                    command.Parameters.Add(new NpgsqlParameter("source", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)p.SourcePackage ?? DBNull.Value });
                    command.Parameters.Add(new NpgsqlParameter("work", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)p.WorkRequestId ?? DBNull.Value });
                    command.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
                    command.Parameters.Add(new NpgsqlParameter("md5", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)p.Md5 ?? DBNull.Value });
                    command.Parameters.Add(new NpgsqlParameter<long>("repo", id));
                    batch.BatchCommands.Add(command);
                }
                await using (batch)
                {
                    await batch.ExecuteNonQueryAsync(ct);
                }
                await using var published = new NpgsqlCommand(PublishedSql, conn, tx);
                published.Parameters.Add(new NpgsqlParameter<int>("snapshot", newSnapshot));
                published.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", now));
                published.Parameters.Add(new NpgsqlParameter<long>("repo", id));
                await published.ExecuteNonQueryAsync(ct);
            }
            await tx.CommitAsync(ct);
        }

        public async ValueTask DisposeAsync()
        {
            await tx.DisposeAsync();
            await conn.DisposeAsync();
        }
    }
}

/// <summary>A repository as listed: the snapshot served, when, and how many pool files it has.</summary>
public sealed record RepositorySummary(long Id, string Suite, string Format, int Snapshot, DateTimeOffset? PublishedAt, long Packages);

/// <summary>One row of <c>repository_packages</c>: a pool file and (APT) its control stanza.</summary>
public sealed record RepositoryPackage(
    string Package, string Version, string Architecture, string Filename, string Sha256, long Size,
    string? Control, string? SourcePackage, long? WorkRequestId, DateTimeOffset PublishedAt, string? Md5);
