using Kiln.Contracts;
using Npgsql;

namespace Kiln.Store.Notices;

/// <summary>
/// Operator notices. The table holds a handful of rows (cleared notices are deleted), so every
/// statement here reads it whole; callers validate severity and text before they get here.
/// </summary>
public sealed class NoticeStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>At most this many active notices are listed (or carried by the header's choice).</summary>
    public const int MaxActive = 100;

    /// <summary>
    /// Active now: started, and not past its end. Most severe first, then newest, so the first
    /// row is the one the <c>Kiln-Notice</c> header carries.
    /// </summary>
    private const string ActiveSql = """
        SELECT id, severity, text, starts_at, ends_at, created_at FROM notices
        WHERE starts_at <= @now AND (ends_at IS NULL OR ends_at > @now)
        ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, starts_at DESC, id DESC
        LIMIT @limit
        """;

    /// <summary>Everything not yet over, including notices scheduled to start later: what an operator manages.</summary>
    private const string UpcomingSql = """
        SELECT id, severity, text, starts_at, ends_at, created_at FROM notices
        WHERE ends_at IS NULL OR ends_at > @now
        ORDER BY starts_at, id
        LIMIT @limit
        """;

    private const string InsertSql = """
        INSERT INTO notices (severity, text, starts_at, ends_at, created_at)
        VALUES (@severity, @text, @starts, @ends, @now)
        RETURNING id, severity, text, starts_at, ends_at, created_at
        """;

    /// <summary>Clearing deletes: a notice has no history worth keeping once it is over.</summary>
    private const string DeleteSql = "DELETE FROM notices WHERE id = @id";

    private const string DeleteAllSql = "DELETE FROM notices";

    /// <summary>Notices shown now, most severe first.</summary>
    public Task<IReadOnlyList<NoticeView>> ActiveAsync(CancellationToken ct) => ReadAsync(ActiveSql, ct);

    /// <summary>Notices shown now or later (not yet ended), by start.</summary>
    public Task<IReadOnlyList<NoticeView>> UpcomingAsync(CancellationToken ct) => ReadAsync(UpcomingSql, ct);

    public async Task<NoticeView> PostAsync(string severity, string text, DateTimeOffset startsAt, DateTimeOffset? endsAt, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(InsertSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("severity", severity));
        cmd.Parameters.Add(new NpgsqlParameter<string>("text", text));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("starts", startsAt));
        cmd.Parameters.Add(new NpgsqlParameter("ends", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = endsAt.HasValue ? endsAt.Value : DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return Read(reader);
    }

    /// <summary>Clears one notice; false if there was none with that id.</summary>
    public async Task<bool> ClearAsync(long id, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(DeleteSql);
        cmd.Parameters.Add(new NpgsqlParameter<long>("id", id));
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    /// <summary>Clears every notice; returns how many there were.</summary>
    public async Task<int> ClearAllAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(DeleteAllSql);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    private async Task<IReadOnlyList<NoticeView>> ReadAsync(string sql, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        cmd.Parameters.Add(new NpgsqlParameter<int>("limit", MaxActive));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var list = new List<NoticeView>();
        while (await reader.ReadAsync(ct))
        {
            list.Add(Read(reader));
        }
        return list;
    }

    private static NoticeView Read(NpgsqlDataReader reader) => new(
        reader.GetInt64(0),
        reader.GetString(1),
        reader.GetString(2),
        reader.GetFieldValue<DateTimeOffset>(3),
        reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
        reader.GetFieldValue<DateTimeOffset>(5));
}
