using System.Globalization;
using Npgsql;

namespace Kiln.Bench;

/// <summary>Write volume and statement profile read from PostgreSQL's own statistics.</summary>
public static class DbStats
{
    /// <summary>Inserts + updates + deletes per table of one database (callers clear their pools first).</summary>
    public static Task<Dictionary<string, long>> TupleWritesAsync(string connectionString) =>
        Kiln.Store.Database.TupleWriteCounter.ReadAsync(connectionString);

    public static async Task<long> WalLsnAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString + ";Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Cluster-wide WAL activity (pg_stat_wal): records, full-page images, bytes, writes, syncs and their time.</summary>
    public sealed record Wal(long Records, long FullPages, long Bytes, long Writes, long Syncs, double WriteMs, double SyncMs)
    {
        public static Wal operator -(Wal a, Wal b) =>
            new(a.Records - b.Records, a.FullPages - b.FullPages, a.Bytes - b.Bytes, a.Writes - b.Writes, a.Syncs - b.Syncs, a.WriteMs - b.WriteMs, a.SyncMs - b.SyncMs);
    }

    public static async Task<Wal> WalAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString + ";Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT wal_records, wal_fpi, wal_bytes::bigint, wal_write, wal_sync, wal_write_time, wal_sync_time FROM pg_stat_wal", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return new Wal(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetDouble(5), r.GetDouble(6));
    }

    public static async Task ResetStatementsAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString + ";Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT pg_stat_statements_reset()", conn);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>One normalised statement's totals since the last reset.</summary>
    public sealed record Statement(string Query, long Calls, double TotalMs, double MeanMs, long Rows, long WalBytes, long SharedHit, long SharedRead, double PlanMs);

    /// <summary>The statements of one database, by total execution time.</summary>
    public static async Task<List<Statement>> StatementsAsync(string connectionString, int top = 15)
    {
        await using var conn = new NpgsqlConnection(connectionString + ";Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT query, calls, total_exec_time, mean_exec_time, rows, wal_bytes::bigint, shared_blks_hit, shared_blks_read, total_plan_time
            FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            ORDER BY total_exec_time DESC LIMIT @top
            """, conn);
        cmd.Parameters.AddWithValue("top", top);
        var list = new List<Statement>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            list.Add(new Statement(r.GetString(0), r.GetInt64(1), r.GetDouble(2), r.GetDouble(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6), r.GetInt64(7), r.GetDouble(8)));
        }
        return list;
    }

    /// <summary>Prints statements as a table with a one-line, whitespace-collapsed query.</summary>
    public static void Print(TextWriter output, IEnumerable<Statement> statements, double perUnit, string unit)
    {
        output.WriteLine($"  {"calls/" + unit,10} {"ms/call",8} {"plan ms",8} {"ms/" + unit,8} {"WAL B/" + unit,9}  statement");
        foreach (var s in statements)
        {
            var q = string.Join(' ', s.Query.Split((char[])['\n', '\r', '\t', ' '], StringSplitOptions.RemoveEmptyEntries));
            q = q.Length > 110 ? q[..110] + "…" : q;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {s.Calls / perUnit,10:0.00} {s.MeanMs,8:0.000} {s.PlanMs / Math.Max(1, s.Calls),8:0.000} {s.TotalMs / perUnit,8:0.000} {s.WalBytes / perUnit,9:0}  {q}"));
        }
    }
}
