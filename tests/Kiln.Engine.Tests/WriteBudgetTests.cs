using Kiln.Contracts;
using Kiln.Store.Engine;
using Npgsql;
using Xunit.Abstractions;

namespace Kiln.Engine.Tests;

/// <summary>
/// Debusine rewrote unchanged rows at 23 MB/s. Kiln budgets its tuple writes: this test counts
/// inserts, updates and deletes in pg_stat_user_tables across whole lifecycles and holds the
/// budget. The figure it prints goes to docs/performance.md.
/// </summary>
public sealed class WriteBudgetTests(ITestOutputHelper output) : EngineTest
{
    private const double Budget = 6.0;

    [Fact]
    public async Task A_simple_work_request_lifecycle_stays_within_the_tuple_write_budget()
    {
        const int n = 500;
        var jobs = Enumerable.Range(0, n).ToDictionary(i => $"j{i}", _ => new JobDocument { Run = "true" });
        var worker = await E.WorkerAsync("w1");
        var before = await TupleWritesAsync();

        await E.SubmitAsync(new WorkflowDocument { Jobs = jobs });
        for (var claimed = await E.ClaimAsync(worker, 16); claimed.Count > 0; claimed = await E.ClaimAsync(worker, 16))
        {
            foreach (var a in claimed)
            {
                Assert.Equal(ReportStatus.Recorded, (await E.CompleteAsync(a)).Status);
            }
        }

        var after = await TupleWritesAsync(expectAtLeast: before.Total + (n * 4));
        var perRequest = (after.Total - before.Total) / (double)n;
        output.WriteLine($"tuple writes per work request lifecycle (submit, claim, complete; {n} in one workflow): {perRequest:F2}");
        foreach (var (table, writes) in after.ByTable)
        {
            output.WriteLine($"  {table}: {(writes - before.ByTable.GetValueOrDefault(table)) / (double)n:F2}");
        }
        Assert.InRange(perRequest, 1, Budget);
    }

    [Fact]
    public async Task A_repeated_heartbeat_on_a_young_lease_writes_nothing()
    {
        await E.SubmitAsync(EngineFixture.Doc(("a", [])));
        var worker = await E.WorkerAsync("w1");
        var a = await E.ClaimOneAsync(worker);
        var before = await TupleWritesAsync();
        for (var i = 0; i < 20; i++)
        {
            var status = await E.Claims.HeartbeatAsync(worker.Id, [new LeaseRef(a.WorkRequestId, a.LeaseToken)], EngineFixture.Lease, default);
            Assert.Equal("ok", status.Single().Status);
        }
        var after = await TupleWritesAsync();
        Assert.Equal(before.ByTable.GetValueOrDefault("work_requests"), after.ByTable.GetValueOrDefault("work_requests"));
    }

    /// <summary>
    /// Statistics are flushed by each backend when it goes idle or exits; closing the pool makes
    /// them exit, then the counters are read (and re-read until they settle).
    /// </summary>
    private async Task<(long Total, Dictionary<string, long> ByTable)> TupleWritesAsync(long expectAtLeast = 0)
    {
        NpgsqlConnection.ClearPool(new NpgsqlConnection(E.DataSource.ConnectionString));
        await using var db = NpgsqlDataSource.Create(E.DataSource.ConnectionString + ";Pooling=false");
        (long, Dictionary<string, long>) last = (-1, []);
        for (var i = 0; i < 50; i++)
        {
            await using var cmd = db.CreateCommand("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables");
            var byTable = new Dictionary<string, long>();
            await using (var reader = await cmd.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    byTable[reader.GetString(0)] = reader.GetInt64(1);
                }
            }
            var total = byTable.Values.Sum();
            if (total == last.Item1 && total >= expectAtLeast)
            {
                return (total, byTable);
            }
            last = (total, byTable);
            await Task.Delay(100);
        }
        return last;
    }
}
