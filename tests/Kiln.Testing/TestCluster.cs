using System.Diagnostics;
using Kiln.Store.Database;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Kiln.Testing;

/// <summary>
/// One private PostgreSQL cluster per test process (fsync off), with a migrated template
/// database; each test class gets its own database copied from the template in milliseconds.
/// A cluster left over by a killed run of the same test assembly is stopped and replaced.
/// </summary>
public static class TestCluster
{
    private const string Template = "kiln_template";
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static LocalPostgresCluster? _cluster;
    private static int _databases;

    public static async Task<LocalPostgresCluster> GetAsync()
    {
        if (_cluster is not null)
        {
            return _cluster;
        }
        await Gate.WaitAsync();
        try
        {
            if (_cluster is not null)
            {
                return _cluster;
            }
            var name = System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "tests";
            var dir = Path.Combine("/tmp", $"kiln-test-{Math.Abs(StringComparer.Ordinal.GetHashCode(name)) % 100000}-{Environment.ProcessId}");
            StopLeftovers();
            var cluster = await LocalPostgresCluster.StartAsync(
                new LocalPostgresOptions { DataDirectory = dir, Ephemeral = true, MaxConnections = 300 }, NullLogger.Instance);
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                cluster.StopAsync().GetAwaiter().GetResult();
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            };
            await using (var admin = new NpgsqlConnection(cluster.ConnectionString("postgres")))
            {
                await admin.OpenAsync();
                await using var create = new NpgsqlCommand($"CREATE DATABASE {Template}", admin);
                await create.ExecuteNonQueryAsync();
            }
            var templateCs = cluster.ConnectionString(Template);
            await using (var source = NpgsqlDataSource.Create(templateCs))
            {
                await new Migrator(source, NullLogger.Instance).MigrateAsync();
            }
            NpgsqlConnection.ClearAllPools();
            _cluster = cluster;
            return cluster;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>A fresh, migrated database; returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync(string hint)
    {
        var cluster = await GetAsync();
        var name = $"t{Interlocked.Increment(ref _databases)}_{new string(hint.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).Take(40).ToArray())}";
        await using var admin = new NpgsqlConnection(cluster.ConnectionString("postgres"));
        await admin.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE {name} TEMPLATE {Template}", admin);
        await create.ExecuteNonQueryAsync();
        return cluster.ConnectionString(name);
    }

    /// <summary>Test clusters of processes that no longer exist (killed runs) are stopped and removed.</summary>
    private static void StopLeftovers()
    {
        foreach (var dir in Directory.GetDirectories("/tmp", "kiln-test-*"))
        {
            if (!int.TryParse(dir.Split('-').Last(), out var pid) || pid == Environment.ProcessId || ProcessExists(pid))
            {
                continue;
            }
            var pgdata = Path.Combine(dir, "pgdata");
            if (File.Exists(Path.Combine(pgdata, "postmaster.pid")))
            {
                try
                {
                    var bin = PostgresBinaries.Find();
                    var asPostgres = Environment.UserName == "root";
                    var psi = new ProcessStartInfo(asPostgres ? "runuser" : Path.Combine(bin, "pg_ctl"))
                    {
                        RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/",
                    };
                    if (asPostgres)
                    {
                        foreach (var a in (string[])["-u", "postgres", "--", Path.Combine(bin, "pg_ctl")]) { psi.ArgumentList.Add(a); }
                    }
                    foreach (var a in (string[])["stop", "-m", "immediate", "-D", pgdata]) { psi.ArgumentList.Add(a); }
                    using var p = Process.Start(psi);
                    p?.WaitForExit(30_000);
                }
                catch (Exception e) when (e is ManagedPostgresException or System.ComponentModel.Win32Exception)
                {
                    continue;
                }
            }
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static bool ProcessExists(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
