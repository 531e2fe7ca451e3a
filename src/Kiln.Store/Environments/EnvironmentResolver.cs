using Kiln.Contracts;
using Npgsql;

namespace Kiln.Store.Environments;

/// <summary>
/// At submission: each environment a job names becomes its current (highest) version, so the
/// work request records exactly which root filesystem it ran in, and a refresh later changes
/// only what is submitted after it.
/// </summary>
public sealed class EnvironmentResolver(NpgsqlDataSource dataSource)
{
    private const string CurrentSql = """
        SELECT e.name, v.version, v.sha256, v.size
        FROM environments e
        JOIN LATERAL (SELECT version, sha256, size FROM environment_versions WHERE environment_id = e.id ORDER BY version DESC LIMIT 1) v ON true
        WHERE e.name = ANY(@names)
        """;

    /// <returns>The current version of each named environment that has one.</returns>
    public async Task<IReadOnlyDictionary<string, EnvironmentRef>> CurrentAsync(IReadOnlyCollection<string> names, CancellationToken ct)
    {
        var found = new Dictionary<string, EnvironmentRef>(StringComparer.Ordinal);
        if (names.Count == 0)
        {
            return found;
        }
        await using var cmd = dataSource.CreateCommand(CurrentSql);
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("names", [.. names]));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            found[reader.GetString(0)] = new EnvironmentRef(reader.GetString(0), reader.GetInt32(1), reader.GetString(2), reader.GetInt64(3));
        }
        return found;
    }
}
