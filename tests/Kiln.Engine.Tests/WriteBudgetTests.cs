using Kiln.Contracts;
using Kiln.Store.Database;
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

        // Every lifecycle writes exactly one attempt row: wait until all of them are counted.
        var after = await TupleWritesAsync(t => t.GetValueOrDefault("attempts") - before.ByTable.GetValueOrDefault("attempts") >= n);
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

    /// <summary>Clears the pool so every backend exits and flushes its statistics, then reads them.</summary>
    private async Task<(long Total, Dictionary<string, long> ByTable)> TupleWritesAsync(Func<IReadOnlyDictionary<string, long>, bool>? complete = null)
    {
        E.DataSource.Clear();
        var byTable = await TupleWriteCounter.ReadAsync(E.DataSource.ConnectionString, complete);
        return (byTable.Values.Sum(), byTable);
    }
}
