using System.Diagnostics;
using System.Runtime.InteropServices;
using Npgsql;

namespace Kiln.Bench;

/// <summary>What the numbers were taken on: machine, runtimes, PostgreSQL settings, mode.</summary>
public static class BenchEnvironment
{
    public static async Task<SortedDictionary<string, string>> DescribeAsync(BenchCluster cluster, BenchOptions o)
    {
        var env = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["mode"] = o.Quick ? "quick" : "full",
            ["cores"] = Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["cpu"] = CpuModel(),
            ["memory_gib"] = MemoryGiB(),
            ["os"] = RuntimeInformation.OSDescription,
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["workers"] = o.Workers.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["n"] = o.N.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["durability"] = o.Ephemeral ? "ephemeral (fsync off, synchronous_commit off)" : "durable (fsync on, synchronous_commit on)",
            ["pg_stat_statements"] = cluster.HasStatementStats ? "loaded" : "not loaded",
            ["git_commit"] = Git("rev-parse --short HEAD"),
            ["engine_tree"] = Git("status --porcelain -- src db") is { Length: > 0 } dirty && dirty != "unknown"
                ? "uncommitted changes under src/ or db/ were measured" : "clean",
        };
        await using var conn = new NpgsqlConnection(cluster.ConnectionString("postgres"));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT version(), current_setting('fsync'), current_setting('synchronous_commit'), current_setting('shared_buffers'), current_setting('wal_sync_method')", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        env["postgres"] = r.GetString(0);
        env["pg_settings"] = $"fsync={r.GetString(1)} synchronous_commit={r.GetString(2)} shared_buffers={r.GetString(3)} wal_sync_method={r.GetString(4)}";
        return env;
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string MemoryGiB()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            var kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            return (kb / 1024.0 / 1024.0).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string Git(string arguments)
    {
        try
        {
            var psi = new ProcessStartInfo("git", arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi);
            if (p is null)
            {
                return "unknown";
            }
            var s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return p.ExitCode == 0 ? s : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}
