using Npgsql;

namespace Kiln.Store.Settings;

/// <summary>Farm-wide settings shared by every replica (e.g. the generated registration token).</summary>
public sealed class SettingsStore(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Stores the value unless the key exists. Two replicas starting together race here: the
    /// loser's insert waits for the winner's commit and then does nothing — and a SELECT in the
    /// same statement would still see the snapshot from before that commit (no row: the token
    /// came back null). So the read is its own statement, with a fresh snapshot.
    /// </summary>
    private const string InsertSql = """
        INSERT INTO settings (key, value) VALUES (@key, @value) ON CONFLICT (key) DO NOTHING RETURNING value
        """;

    private const string ReadSql = "SELECT value FROM settings WHERE key = @key";

    /// <summary>Returns the stored value, storing <paramref name="create"/>'s result first if there is none (first writer wins).</summary>
    public async Task<string> GetOrCreateAsync(string key, Func<string> create, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using (var read = new NpgsqlCommand(ReadSql, conn) { Parameters = { new NpgsqlParameter<string>("key", key) } })
        {
            if (await read.ExecuteScalarAsync(ct) is string existing)
            {
                return existing;
            }
        }
        await using (var insert = new NpgsqlCommand(InsertSql, conn)
        {
            Parameters = { new NpgsqlParameter<string>("key", key), new NpgsqlParameter<string>("value", create()) },
        })
        {
            if (await insert.ExecuteScalarAsync(ct) is string inserted)
            {
                return inserted;
            }
        }
        // Another writer won; its row is committed (our insert waited for it), and this statement sees it.
        await using var again = new NpgsqlCommand(ReadSql, conn) { Parameters = { new NpgsqlParameter<string>("key", key) } };
        return await again.ExecuteScalarAsync(ct) as string
            ?? throw new InvalidOperationException($"setting '{key}' was neither inserted nor found");
    }
}
