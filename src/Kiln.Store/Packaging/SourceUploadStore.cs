using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Store.Identity;
using Npgsql;

namespace Kiln.Store.Packaging;

/// <summary>
/// Source uploads (kiln build X.dsc / X.src.rpm, and the uploads a mass rebuild makes from published
/// .dsc files): a row per upload, a row per file, the files' bytes in the blob store. The same files
/// uploaded again to the same project are the same upload (content_key), so they build as the same workflow.
/// </summary>
public sealed class SourceUploadStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    // ON CONFLICT: a concurrent or repeated upload of the same files keeps the first row.
    private const string InsertSql = """
        INSERT INTO source_uploads (project_id, format, package, version, uploaded_by, created_at, content_key)
        VALUES (@project, @format, @package, @version, @user, @now, @key)
        ON CONFLICT (project_id, content_key) WHERE content_key IS NOT NULL DO NOTHING
        RETURNING id
        """;

    private const string ExistingSql = "SELECT id FROM source_uploads WHERE project_id = @project AND content_key = @key";

    private const string InsertFileSql = "INSERT INTO source_upload_files (upload_id, name, sha256, size) VALUES (@id, @name, @sha, @size)";

    private const string OfUploadSql = """
        SELECT p.id, p.name, p.visibility = 'private', s.uploaded_by
        FROM source_uploads s JOIN projects p ON p.id = s.project_id WHERE s.id = @id
        """;

    private const string GetSql = """
        SELECT p.name, s.format, s.package, s.version, u.name, s.created_at
        FROM source_uploads s JOIN projects p ON p.id = s.project_id LEFT JOIN users u ON u.id = s.uploaded_by
        WHERE s.id = @id
        """;

    private const string FilesSql = "SELECT name, sha256, size FROM source_upload_files WHERE upload_id = @id ORDER BY name";

    private const string ProjectIdSql = "SELECT id FROM projects WHERE name = @name";

    /// <summary>The identity of an upload's content: its format and its files by name and hash.</summary>
    public static string ContentKey(string format, IEnumerable<SourceFileRef> files)
    {
        var text = format + "\n" + string.Join("\n", files.Select(f => $"{f.Name} {f.Sha256} {f.Size}").Order(StringComparer.Ordinal));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    public async Task<long?> ProjectIdAsync(string project, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ProjectIdSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("name", project));
        return await cmd.ExecuteScalarAsync(ct) is long id ? id : null;
    }

    /// <summary>Records an upload whose files are stored blobs (the caller verified them); the existing one when the same files were uploaded before.</summary>
    public async Task<(long Id, bool Created)> CreateAsync(
        long projectId, string format, string package, string version, long? userId, IReadOnlyList<SourceFileRef> files, CancellationToken ct)
    {
        var key = ContentKey(format, files);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        long? id;
        await using (var cmd = new NpgsqlCommand(InsertSql, connection, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            cmd.Parameters.Add(new NpgsqlParameter<string>("format", format));
            cmd.Parameters.Add(new NpgsqlParameter<string>("package", package));
            cmd.Parameters.Add(new NpgsqlParameter<string>("version", version));
            cmd.Parameters.Add(new NpgsqlParameter("user", (object?)userId ?? DBNull.Value));
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
            cmd.Parameters.Add(new NpgsqlParameter<string>("key", key));
            id = await cmd.ExecuteScalarAsync(ct) as long?;
        }
        if (id is null)
        {
            await tx.RollbackAsync(ct);
            await using var existing = dataSource.CreateCommand(ExistingSql);
            existing.Parameters.Add(new NpgsqlParameter<long>("project", projectId));
            existing.Parameters.Add(new NpgsqlParameter<string>("key", key));
            return ((long)(await existing.ExecuteScalarAsync(ct))!, false);
        }
        foreach (var file in files)
        {
            await using var cmd = new NpgsqlCommand(InsertFileSql, connection, tx);
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id.Value));
            cmd.Parameters.Add(new NpgsqlParameter<string>("name", file.Name));
            cmd.Parameters.Add(new NpgsqlParameter<string>("sha", file.Sha256));
            cmd.Parameters.Add(new NpgsqlParameter<long>("size", file.Size));
            await cmd.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return (id.Value, true);
    }

    /// <summary>The project an upload belongs to (for access checks); null when it does not exist.</summary>
    public async Task<ProjectOfResource?> OfUploadAsync(long id, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(OfUploadSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new ProjectOfResource(reader.GetInt64(0), reader.GetString(1), reader.GetBoolean(2), reader.IsDBNull(3) ? null : reader.GetInt64(3))
            : null;
    }

    public async Task<SourceUploadView?> GetAsync(long id, CancellationToken ct)
    {
        SourceUploadView view;
        await using (var cmd = dataSource.CreateCommand(GetSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return null;
            }
            view = new SourceUploadView(id, reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetFieldValue<DateTimeOffset>(5), []);
        }
        var files = new List<SourceFileRef>();
        await using (var cmd = dataSource.CreateCommand(FilesSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                files.Add(new SourceFileRef(reader.GetString(0), reader.GetString(1), reader.GetInt64(2)));
            }
        }
        return view with { Files = files };
    }
}
