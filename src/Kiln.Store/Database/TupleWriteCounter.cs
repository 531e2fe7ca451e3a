using Npgsql;

namespace Kiln.Store.Database;

/// <summary>
/// Tuple writes (inserts + updates + deletes) per table of one database, from
/// <c>pg_stat_user_tables</c>: how the write budget is measured. Backends flush their counters
/// when they exit (callers clear their pools first) or, when idle, within 10 s; so the read
/// is repeated until the caller's expectation holds and two reads agree.
/// </summary>
public static class TupleWriteCounter
{
    public static async Task<Dictionary<string, long>> ReadAsync(
        string connectionString, Func<IReadOnlyDictionary<string, long>, bool>? complete = null, CancellationToken ct = default)
    {
        await using var db = NpgsqlDataSource.Create(connectionString + ";Pooling=false");
        var previous = -1L;
        for (var i = 0; i < 150; i++)
        {
            await using var cmd = db.CreateCommand("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables");
            var byTable = new Dictionary<string, long>();
            await using (var reader = await cmd.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    byTable[reader.GetString(0)] = reader.GetInt64(1);
                }
            }
            var total = byTable.Values.Sum();
            if (total == previous && (complete?.Invoke(byTable) ?? true))
            {
                return byTable;
            }
            previous = total;
            await Task.Delay(200, ct);
        }
        throw new TimeoutException("PostgreSQL's statistics did not settle within 30 s");
    }
}
