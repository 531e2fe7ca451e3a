using Kiln.Contracts;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// The claim asks for PostgreSQL's generic plan within its own transaction. On one pooled
/// connection that is auto-prepared as the server's are and returned without a reset, the
/// prepared claim must run that cached plan, and the setting must be gone afterwards.
/// </summary>
public sealed class ClaimPlanTests : EngineTest
{
    [Fact]
    public async Task The_prepared_claim_runs_its_generic_plan_and_the_setting_ends_with_its_transaction()
    {
        var builder = new NpgsqlConnectionStringBuilder(E.DataSource.ConnectionString)
        {
            MaxPoolSize = 1,
            MaxAutoPrepare = 32,
            AutoPrepareMinUsages = 2,
            NoResetOnClose = true,
        };
        await using var source = NpgsqlDataSource.Create(builder.ConnectionString);
        var claims = new ClaimStore(source, E.Time);
        await E.SubmitAsync(new WorkflowDocument
        {
            Jobs = Enumerable.Range(0, 8).ToDictionary(i => $"j{i}", _ => new JobDocument { Run = "true" }),
        });
        var worker = await E.WorkerAsync("w1");
        for (var i = 0; i < 8; i++)
        {
            Assert.Single(await claims.ClaimAsync(worker, 1, EngineFixture.Lease, default));
        }

        await using var conn = await source.OpenConnectionAsync();
        await using (var setting = new NpgsqlCommand("SHOW plan_cache_mode", conn))
        {
            Assert.Equal("auto", (string?)await setting.ExecuteScalarAsync());
        }
        await using var plans = new NpgsqlCommand(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%SKIP LOCKED%'", conn);
        await using var reader = await plans.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "the claim was not prepared");
        Assert.True(reader.GetInt64(0) > 0, "the prepared claim never ran a generic plan");
        Assert.Equal(0, reader.GetInt64(1));
    }
}
