using System.Data.Common;
using Kiln.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Artifacts;

/// <summary>
/// Artifact metadata: which attempt produced which path with which content. The bytes live in
/// an <see cref="IBlobStore"/>; a row here only ever points at a verified blob.
/// </summary>
public sealed class ArtifactStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string BlobSizeSql = "SELECT size FROM blobs WHERE sha256 = @sha";

    /// <summary>Written once per content; a second upload of the same bytes writes nothing.</summary>
    private const string AddBlobSql = """
        INSERT INTO blobs (sha256, size, created_at) VALUES (@sha, @size, @now) ON CONFLICT (sha256) DO NOTHING
        """;

    /// <summary>
    /// A repeated declaration (a worker retrying after a lost answer) returns the row it made. The
    /// update fires only when the content differs (a task rewrote the file between two declarations),
    /// never as a no-op rewrite.
    /// </summary>
    private const string RecordSql = """
        INSERT INTO artifacts (work_request_id, attempt, path, sha256, size, created_at)
        VALUES (@id, @attempt, @path, @sha, @size, @now)
        ON CONFLICT (work_request_id, attempt, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, created_at = excluded.created_at
            WHERE artifacts.sha256 IS DISTINCT FROM excluded.sha256
        RETURNING id, work_request_id, attempt, path, sha256, size, created_at
        """;

    private const string Columns = "id, work_request_id, attempt, path, sha256, size, created_at";

    private const string GetSql = $"SELECT {Columns} FROM artifacts WHERE work_request_id = @id AND attempt = @attempt AND path = @path";

    /// <summary>Without an attempt: the work request's latest, which after success is the one that succeeded.</summary>
    private const string ListSql = $"""
        SELECT {Columns} FROM artifacts
        WHERE work_request_id = @id
          AND attempt = coalesce(@attempt, (SELECT attempt FROM work_requests WHERE id = @id))
        ORDER BY path
        LIMIT @limit
        """;

    private const string CountSql = "SELECT count(*) FROM artifacts WHERE work_request_id = @id AND attempt = @attempt";

    /// <summary>The size of a stored blob, or null when the content is not stored yet.</summary>
    public async Task<long?> BlobSizeAsync(string sha256, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(BlobSizeSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("sha", sha256));
        return await cmd.ExecuteScalarAsync(ct) is long size ? size : null;
    }

    public async Task AddBlobAsync(string sha256, long size, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(AddBlobSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("sha", sha256));
        cmd.Parameters.Add(new NpgsqlParameter<long>("size", size));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<ArtifactView> RecordAsync(long workRequestId, int attempt, string path, string sha256, long size, CancellationToken ct)
    {
        await using (var cmd = dataSource.CreateCommand(RecordSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
            cmd.Parameters.Add(new NpgsqlParameter<int>("attempt", attempt));
            cmd.Parameters.Add(new NpgsqlParameter<string>("path", path));
            cmd.Parameters.Add(new NpgsqlParameter<string>("sha", sha256));
            cmd.Parameters.Add(new NpgsqlParameter<long>("size", size));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (await reader.ReadAsync(ct))
            {
                return Read(reader);
            }
        }
        // Nothing changed: the same declaration was recorded before.
        return (await GetAsync(workRequestId, attempt, path, ct))!;
    }

    public async Task<ArtifactView?> GetAsync(long workRequestId, int attempt, string path, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(GetSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter<int>("attempt", attempt));
        cmd.Parameters.Add(new NpgsqlParameter<string>("path", path));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    /// <param name="attempt">Null for the work request's latest attempt.</param>
    public async Task<IReadOnlyList<ArtifactView>> ListAsync(long workRequestId, int? attempt, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter("attempt", NpgsqlDbType.Integer) { Value = (object?)attempt ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", limit));
        var items = new List<ArtifactView>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(Read(reader));
        }
        return items;
    }

    public async Task<long> CountAsync(long workRequestId, int attempt, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(CountSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", workRequestId));
        cmd.Parameters.Add(new NpgsqlParameter<int>("attempt", attempt));
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private static ArtifactView Read(DbDataReader r) => new(
        r.GetInt64(0), r.GetInt64(1), r.GetInt32(2), r.GetString(3), r.GetString(4), r.GetInt64(5), r.GetFieldValue<DateTimeOffset>(6));
}
