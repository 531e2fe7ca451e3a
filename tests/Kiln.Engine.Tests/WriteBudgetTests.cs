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

    private static readonly string[] StatusTables = ["status_targets", "status_deliveries", "status_channels"];

    [Fact]
    public async Task A_workflow_with_no_reporting_link_and_no_subscription_writes_nothing_in_the_status_tables()
    {
        const int n = 20;
        var worker = await E.WorkerAsync("w1");
        var before = await TupleWritesAsync();

        await E.SubmitAsync(new WorkflowDocument { Jobs = Enumerable.Range(0, n).ToDictionary(i => $"j{i}", _ => new JobDocument { Run = "true" }) });
        await RunAllAsync(worker);

        var after = await TupleWritesAsync(t => t.GetValueOrDefault("attempts") - before.ByTable.GetValueOrDefault("attempts") >= n);
        foreach (var table in StatusTables)
        {
            Assert.Equal(before.ByTable.GetValueOrDefault(table), after.ByTable.GetValueOrDefault(table));
            Assert.Equal(0L, await CountAsync(table));
        }
    }

    [Fact]
    public async Task A_reported_workflows_claims_and_completions_write_nothing_in_the_status_tables()
    {
        const int n = 20;
        var worker = await E.WorkerAsync("w1");
        var eventId = await ReportingEventAsync("reported");
        var before = await TupleWritesAsync();

        var (plan, errors) = E.Planner.Plan(new WorkflowDocument
        {
            Project = "reported", Jobs = Enumerable.Range(0, n).ToDictionary(i => $"j{i}", _ => new JobDocument { Run = "true" }),
        });
        Assert.True(plan is not null, string.Join("; ", errors.Select(e => e.Message)));
        await E.Submissions.SubmitAsync(plan!, "{}", default, origin: new WorkflowOrigin(EventId: eventId));
        // The submission's own statement made the one summary target (report = summary): one insert.
        var submitted = await TupleWritesAsync(t => t.GetValueOrDefault("work_requests") - before.ByTable.GetValueOrDefault("work_requests") >= n);
        Assert.Equal(1L, await CountAsync("status_targets"));
        Assert.Equal(1L, submitted.ByTable.GetValueOrDefault("status_targets") - before.ByTable.GetValueOrDefault("status_targets"));

        await RunAllAsync(worker);

        // Claims and completions change the state the target should show, but the desired state is
        // derived at send time, never stored: nothing in status_* is written until the sender writes.
        var after = await TupleWritesAsync(t => t.GetValueOrDefault("attempts") - submitted.ByTable.GetValueOrDefault("attempts") >= n);
        foreach (var table in StatusTables)
        {
            Assert.Equal(submitted.ByTable.GetValueOrDefault(table), after.ByTable.GetValueOrDefault(table));
        }
        Assert.Equal(0L, await CountAsync("status_deliveries"));
        Assert.Equal(0L, await CountAsync("status_channels"));
    }

    /// <summary>A project, a repository link with a (dummy sealed) token reporting a summary, and a push event that came through it.</summary>
    private async Task<long> ReportingEventAsync(string project)
    {
        await using var cmd = E.DataSource.CreateCommand("""
            WITH p AS (INSERT INTO projects (name, created_at) VALUES (@project, now()) RETURNING id),
            l AS (INSERT INTO repository_links (project_id, forge, repository, secret_sealed, secret_key_id, api_url, token_sealed, token_key_id, created_at)
                  SELECT id, 'gitlab', 'acme/widget', '\x00'::bytea, 'k', 'http://127.0.0.1:9/api/v4', '\x00'::bytea, 'k', now() FROM p RETURNING id)
            INSERT INTO events (source, link_ids, event_type, state, facts, received_at)
            SELECT 'gitlab', ARRAY[l.id], 'push', 'processed', jsonb_build_object('sha', repeat('a', 40), 'branch', 'main'), now() FROM l
            RETURNING id
            """);
        cmd.Parameters.AddWithValue("project", project);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private async Task RunAllAsync(WorkerIdentity worker)
    {
        for (var claimed = await E.ClaimAsync(worker, 16); claimed.Count > 0; claimed = await E.ClaimAsync(worker, 16))
        {
            foreach (var a in claimed)
            {
                Assert.Equal(ReportStatus.Recorded, (await E.CompleteAsync(a)).Status);
            }
        }
    }

    private async Task<long> CountAsync(string table)
    {
        await using var cmd = E.DataSource.CreateCommand($"SELECT count(*) FROM {table}");
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Clears the pool so every backend exits and flushes its statistics, then reads them.</summary>
    private async Task<(long Total, Dictionary<string, long> ByTable)> TupleWritesAsync(Func<IReadOnlyDictionary<string, long>, bool>? complete = null)
    {
        E.DataSource.Clear();
        var byTable = await TupleWriteCounter.ReadAsync(E.DataSource.ConnectionString, complete);
        return (byTable.Values.Sum(), byTable);
    }
}
