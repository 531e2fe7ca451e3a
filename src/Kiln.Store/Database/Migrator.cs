using System.Reflection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Kiln.Store.Database;

/// <summary>
/// Applies <c>db/migrations/NNNN_*.sql</c> in order, each in its own transaction, under a
/// session advisory lock so that two servers starting at once apply each file exactly once
/// (the second waits, then finds nothing left to do).
/// </summary>
public sealed partial class Migrator(NpgsqlDataSource dataSource, ILogger logger)
{
    // Arbitrary but fixed: "kiln" in ASCII, used only for migrations.
    private const long MigrationLockKey = 0x6b696c6e_0001;

    public static IReadOnlyList<(string Version, string Sql)> Migrations { get; } = LoadMigrations();

    private static List<(string Version, string Sql)> LoadMigrations()
    {
        var assembly = typeof(Migrator).Assembly;
        return [.. assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("migrations/", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(n => (Path.GetFileNameWithoutExtension(n["migrations/".Length..]), Read(assembly, n)))];
    }

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <returns>The versions applied by this call.</returns>
    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await Execute(conn, $"SELECT pg_advisory_lock({MigrationLockKey})", ct);
        try
        {
            await Execute(conn, """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    text PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """, ct);
            var applied = new HashSet<string>();
            await using (var cmd = new NpgsqlCommand("SELECT version FROM schema_migrations", conn))
            await using (var reader = await cmd.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    applied.Add(reader.GetString(0));
                }
            }
            var done = new List<string>();
            foreach (var (version, sql) in Migrations.Where(m => !applied.Contains(m.Version)))
            {
                await using var tx = await conn.BeginTransactionAsync(ct);
                await Execute(conn, sql, ct);
                await using (var record = new NpgsqlCommand("INSERT INTO schema_migrations (version) VALUES ($1)", conn) { Parameters = { new() { Value = version } } })
                {
                    await record.ExecuteNonQueryAsync(ct);
                }
                await tx.CommitAsync(ct);
                LogApplied(logger, version);
                done.Add(version);
            }
            return done;
        }
        finally
        {
            await Execute(conn, $"SELECT pg_advisory_unlock({MigrationLockKey})", CancellationToken.None);
        }
    }

    private static async Task Execute(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Version}")]
    private static partial void LogApplied(ILogger logger, string version);
}
