using Npgsql;

namespace Kiln.Store.Settings;

/// <summary>Farm-wide settings shared by every replica (e.g. the generated registration token).</summary>
public sealed class SettingsStore(NpgsqlDataSource dataSource)
{
    /// <summary>Returns the stored value, storing <paramref name="create"/>'s result first if there is none (first writer wins).</summary>
    public async Task<string> GetOrCreateAsync(string key, Func<string> create, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("""
            WITH ins AS (INSERT INTO settings (key, value) VALUES (@key, @value) ON CONFLICT (key) DO NOTHING RETURNING value)
            SELECT value FROM ins UNION ALL SELECT value FROM settings WHERE key = @key
            """);
        cmd.Parameters.Add(new NpgsqlParameter<string>("key", key));
        cmd.Parameters.Add(new NpgsqlParameter<string>("value", create()));
        return (string)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
