using System.Diagnostics;
using Kiln.Store.Database;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Kiln.Bench;

/// <summary>
/// The one PostgreSQL cluster of a bench run, shared by Kiln, pgbench and Hangfire so that
/// their numbers are taken on the same server. It is Kiln's own managed cluster
/// (<see cref="LocalPostgresCluster"/>) in a directory under /tmp, durable unless
/// <c>--ephemeral</c>, with pg_stat_statements and WAL timing switched on (when the module is
/// installed) so that each bench can say where the database time went.
/// </summary>
public sealed class BenchCluster : IAsyncDisposable
{
    private const string Template = "bench_template";
    private readonly string _directory;
    private readonly bool _keep;
    private readonly LocalPostgresCluster _cluster;

    private BenchCluster(LocalPostgresCluster cluster, string directory, bool keep, bool statements)
    {
        _cluster = cluster;
        _directory = directory;
        _keep = keep;
        HasStatementStats = statements;
    }

    /// <summary>pg_stat_statements is loaded (it ships with PostgreSQL's contrib, which Debian installs with the server).</summary>
    public bool HasStatementStats { get; }

    public string BinDirectory => _cluster.BinDirectory;

    public string SocketDirectory => _cluster.SocketDirectory;

    public string LogFile => _cluster.LogFile;

    public string ConnectionString(string database) => _cluster.ConnectionString(database);

    public static async Task<BenchCluster> StartAsync(BenchOptions options)
    {
        var directory = options.DataDirectory ?? Path.Combine("/tmp", $"kiln-bench-{Environment.ProcessId}");
        if (Directory.Exists(directory) && !options.Keep)
        {
            Directory.Delete(directory, recursive: true);
        }
        var pgOptions = new LocalPostgresOptions { DataDirectory = directory, Ephemeral = options.Ephemeral, MaxConnections = 300 };
        ILogger logger = NullLogger.Instance;
        var cluster = await LocalPostgresCluster.StartAsync(pgOptions, logger);
        try
        {
            var statements = File.Exists(Path.Combine(cluster.BinDirectory, "..", "lib", "pg_stat_statements.so")) && options.StatementStats;
            await using (var admin = new NpgsqlConnection(cluster.ConnectionString("postgres")))
            {
                await admin.OpenAsync();
                var settings = new List<string> { "track_wal_io_timing = on" };
                if (statements)
                {
                    settings.Add("shared_preload_libraries = 'pg_stat_statements'");
                }
                foreach (var s in settings)
                {
                    await Exec(admin, $"ALTER SYSTEM SET {s}");
                }
            }
            // shared_preload_libraries takes effect only at server start.
            NpgsqlConnection.ClearAllPools();
            await cluster.StopAsync();
            cluster = await LocalPostgresCluster.StartAsync(pgOptions, logger);
            if (statements)
            {
                // Only known once the module is loaded; shows how much of a statement's time is planning.
                await using var admin = new NpgsqlConnection(cluster.ConnectionString("postgres"));
                await admin.OpenAsync();
                await Exec(admin, "ALTER SYSTEM SET pg_stat_statements.track_planning = on");
                await Exec(admin, "SELECT pg_reload_conf()");
            }
            var bench = new BenchCluster(cluster, directory, options.Keep, statements);
            await bench.CreateTemplateAsync();
            return bench;
        }
        catch
        {
            await cluster.StopAsync();
            throw;
        }
    }

    private async Task CreateTemplateAsync()
    {
        await using (var admin = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await admin.OpenAsync();
            await Exec(admin, $"DROP DATABASE IF EXISTS {Template}");
            await Exec(admin, $"CREATE DATABASE {Template}");
        }
        await using var source = NpgsqlDataSource.Create(ConnectionString(Template));
        await new Migrator(source, NullLogger.Instance).MigrateAsync();
        if (HasStatementStats)
        {
            await using var ext = source.CreateCommand("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
            await ext.ExecuteNonQueryAsync();
        }
        NpgsqlConnection.ClearAllPools();
    }

    /// <summary>A fresh database: migrated for Kiln (copied from the template), or empty for a peer.</summary>
    public async Task<string> CreateDatabaseAsync(string name, bool kilnSchema = true)
    {
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(ConnectionString("postgres"));
        await admin.OpenAsync();
        await Exec(admin, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        await Exec(admin, kilnSchema ? $"CREATE DATABASE {name} TEMPLATE {Template}" : $"CREATE DATABASE {name}");
        if (!kilnSchema && HasStatementStats)
        {
            await using var conn = new NpgsqlConnection(ConnectionString(name));
            await conn.OpenAsync();
            await Exec(conn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        }
        return ConnectionString(name);
    }

    /// <summary>Runs a PostgreSQL client program as the cluster's OS user (as LocalPostgresCluster does when root).</summary>
    public async Task<(int ExitCode, string Output)> RunToolAsync(string tool, IReadOnlyList<string> args, CancellationToken ct = default)
    {
        var program = Path.Combine(BinDirectory, tool);
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
        if (Environment.UserName == "root")
        {
            psi.FileName = "runuser";
            foreach (var a in (string[])["-u", "postgres", "--", program])
            {
                psi.ArgumentList.Add(a);
            }
        }
        else
        {
            psi.FileName = program;
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>CPU seconds used so far by the cluster: the postmaster, its live backends, and the backends it has reaped.</summary>
    public double CpuSeconds()
    {
        var pidFile = Path.Combine(_directory, "pgdata", "postmaster.pid");
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadLines(pidFile).First(), out var postmaster))
        {
            return double.NaN;
        }
        double ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            var fields = ProcStat(pid);
            if (fields is null)
            {
                continue;
            }
            // [1] is the parent pid; [11]..[14] are utime, stime, cutime, cstime (clock ticks of 1/100 s).
            if (pid == postmaster)
            {
                ticks += fields[11] + fields[12] + fields[13] + fields[14];
            }
            else if (fields[1] == postmaster)
            {
                ticks += fields[11] + fields[12];
            }
        }
        return ticks / 100.0;
    }

    private static long[]? ProcStat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var close = text.LastIndexOf(')');
            var parts = text[(close + 2)..].Split(' ');
            // parts[0] is field 3 (state), so field N of proc(5) is parts[N - 3].
            return [.. parts.Select(p => long.TryParse(p, out var v) ? v : 0)];
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static async Task Exec(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await _cluster.StopAsync();
        var serverData = Path.Combine("/tmp", $"kiln-bench-data-{Environment.ProcessId}");
        if (Directory.Exists(serverData))
        {
            Directory.Delete(serverData, recursive: true);
        }
        if (!_keep)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
