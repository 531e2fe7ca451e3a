using Kiln.Contracts;
using Kiln.Store.Secrets;
using Npgsql;
using NpgsqlTypes;

namespace Kiln.Store.Outbox;

/// <summary>
/// GitHub Apps (<c>forge_apps</c>), one per API URL: the App id and its private key, sealed by the
/// farm's <see cref="SecretBox"/> under farm scope (project 0) and bound to the API URL, so a sealed
/// key copied to another row does not open. Only <see cref="KeyAsync"/> (the check-run writer) opens it.
/// </summary>
public sealed class ForgeAppStore(NpgsqlDataSource dataSource, SecretBox box, TimeProvider time)
{
    /// <summary>The farm scope the keys are sealed under (no project has id 0).</summary>
    private const long FarmScope = 0;

    private const string UpsertSql = """
        INSERT INTO forge_apps (api_url, forge, app_id, key_sealed, key_key_id, created_by, created_at)
        VALUES (@api_url, 'github', @app_id, @key, @key_id, @user, @now)
        ON CONFLICT (api_url) DO UPDATE
            SET app_id = excluded.app_id, key_sealed = excluded.key_sealed, key_key_id = excluded.key_key_id,
                created_by = excluded.created_by, created_at = excluded.created_at
        RETURNING (xmax = 0)
        """;

    private const string ListSql = """
        SELECT a.api_url, a.forge, a.app_id, u.name, a.created_at
        FROM forge_apps a LEFT JOIN users u ON u.id = a.created_by ORDER BY a.api_url
        """;

    private const string KeySql = "SELECT app_id, key_sealed, key_key_id FROM forge_apps WHERE api_url = @api_url";

    private const string DeleteSql = "DELETE FROM forge_apps WHERE api_url = @api_url";

    /// <summary>Registers or replaces the App of <paramref name="apiUrl"/>; true when it is new.</summary>
    public async Task<bool> SetAsync(string apiUrl, string appId, string privateKeyPem, long? userId, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(UpsertSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("api_url", apiUrl));
        cmd.Parameters.Add(new NpgsqlParameter<string>("app_id", appId));
        cmd.Parameters.Add(new NpgsqlParameter<byte[]>("key", box.Seal(FarmScope, SealName(apiUrl), privateKeyPem)));
        cmd.Parameters.Add(new NpgsqlParameter<string>("key_id", box.KeyId));
        cmd.Parameters.Add(new NpgsqlParameter("user", NpgsqlDbType.Bigint) { Value = userId is { } u ? u : DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", time.GetUtcNow()));
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Every registered App, never a key.</summary>
    public async Task<IReadOnlyList<ForgeAppView>> ListAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(ListSql);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var apps = new List<ForgeAppView>();
        while (await reader.ReadAsync(ct))
        {
            apps.Add(new ForgeAppView(reader.GetString(0), reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(4)));
        }
        return apps;
    }

    /// <summary>Removes the App of <paramref name="apiUrl"/>; false when there was none.</summary>
    public async Task<bool> RemoveAsync(string apiUrl, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(DeleteSql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("api_url", apiUrl));
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    /// <summary>The App id and its private key (PEM, opened) for the check-run writer; null when no App is registered for the URL.</summary>
    public async Task<(string AppId, string Pem)?> KeyAsync(string apiUrl, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(KeySql);
        cmd.Parameters.Add(new NpgsqlParameter<string>("api_url", apiUrl));
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        return (reader.GetString(0), box.Open(FarmScope, SealName(apiUrl), reader.GetFieldValue<byte[]>(1), reader.GetString(2)));
    }

    private static string SealName(string apiUrl) => $"forge-app:{apiUrl}";
}
