using System.Text.Json;
using Kiln.Contracts;
using Kiln.Store.Engine;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// Copr's grabber let a burst of slow actions block build dispatch for hours. In Kiln,
/// maintenance actions live in their own queue, and a build claim never reads them: the
/// rows a build claim examines do not grow with a thousand queued actions.
/// (Latency itself is measured by the benchmark, not asserted here.)
/// </summary>
public sealed class QueueIsolationTests : EngineTest
{
    [Fact]
    public async Task A_thousand_queued_maintenance_actions_do_not_add_a_row_to_what_a_build_claim_reads()
    {
        await E.SubmitAsync(Builds("debian", 20));
        await E.SubmitAsync(Builds("fedora", 20));
        var builder = await E.WorkerAsync("builder");
        var baseline = await RowsExaminedByClaimAsync(builder);

        await E.SubmitAsync(new WorkflowDocument
        {
            Project = "debian",
            Jobs = Enumerable.Range(0, 1000).ToDictionary(i => $"publish{i}", _ =>
                new JobDocument { Run = "sleep 600", Requires = new JobRequirements { Queue = "maintenance" } }),
        });
        var withBacklog = await RowsExaminedByClaimAsync(builder);

        // Reading the backlog would add at least its 1,000 rows; the claim's own rolled-back
        // EXPLAIN runs leave a few dead index entries, hence a margin rather than equality.
        Assert.True(withBacklog - baseline < 100, $"a build claim read {withBacklog} rows with the backlog, {baseline} without");
        Assert.All(await E.ClaimAsync(builder, 8), a => Assert.StartsWith("b", a.Name));
    }

    private static WorkflowDocument Builds(string project, int n) => new()
    {
        Project = project,
        Jobs = Enumerable.Range(0, n).ToDictionary(i => $"b{i}", _ => new JobDocument { Run = "make" }),
    };

    /// <summary>Runs the claim under EXPLAIN ANALYZE in a rolled-back transaction and adds up rows produced and filtered out by every plan node.</summary>
    private async Task<long> RowsExaminedByClaimAsync(WorkerIdentity worker)
    {
        await using var conn = await E.DataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using var cmd = new NpgsqlCommand("EXPLAIN (ANALYZE, FORMAT JSON) " + ClaimStore.ClaimSql, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter<string>("queue", "builds"));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("architectures", worker.Architectures));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("tags", worker.Tags));
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset>("now", E.Time.GetUtcNow()));
        cmd.Parameters.Add(new NpgsqlParameter<int>("slots", 4));
        cmd.Parameters.Add(new NpgsqlParameter<long>("worker", worker.Id));
        cmd.Parameters.Add(new NpgsqlParameter<TimeSpan>("lease", TimeSpan.FromMinutes(1)));
        cmd.Parameters.Add(new NpgsqlParameter("claim_id", NpgsqlTypes.NpgsqlDbType.Uuid) { Value = DBNull.Value });
        var plan = JsonDocument.Parse((string)(await cmd.ExecuteScalarAsync())!);
        await tx.RollbackAsync();
        return Sum(plan.RootElement[0].GetProperty("Plan"));
    }

    private static long Sum(JsonElement node)
    {
        var rows = (long)(node.GetProperty("Actual Rows").GetDouble() * node.GetProperty("Actual Loops").GetDouble());
        if (node.TryGetProperty("Rows Removed by Filter", out var removed))
        {
            rows += (long)removed.GetDouble();
        }
        if (node.TryGetProperty("Plans", out var children))
        {
            rows += children.EnumerateArray().Sum(Sum);
        }
        return rows;
    }
}
