using Kiln.Server.Hosting;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// The engine's pool returns connections without reset statements and auto-prepares hot
/// statements; a statement PostgreSQL refuses while binding its parameters must still leave
/// the pooled connection usable for the next request.
/// </summary>
public sealed class EngineConnectionTests
{
    [Fact]
    public async Task A_statement_refused_at_bind_leaves_the_pooled_connection_usable_for_prepared_and_batched_statements()
    {
        var cs = new NpgsqlConnectionStringBuilder(await TestCluster.CreateDatabaseAsync("engineconn")) { MaxPoolSize = 1 }.ConnectionString;
        await using var db = KilnServerHost.EngineDataSource(cs);
        const string sql = "SELECT count(*) FROM projects WHERE name = @name";

        async Task<long> CountAsync(string name, bool batched)
        {
            await using var conn = await db.OpenConnectionAsync();
            if (!batched)
            {
                await using var cmd = new NpgsqlCommand(sql, conn);
                cmd.Parameters.Add(new NpgsqlParameter<string>("name", name));
                return (long)(await cmd.ExecuteScalarAsync())!;
            }
            await using var batch = new NpgsqlBatch(conn);
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"));
            var count = new NpgsqlBatchCommand(sql);
            count.Parameters.Add(new NpgsqlParameter<string>("name", name));
            batch.BatchCommands.Add(count);
            await using var reader = await batch.ExecuteReaderAsync();
            await reader.NextResultAsync();
            await reader.ReadAsync();
            return reader.GetInt64(0);
        }

        foreach (var batched in new[] { false, true })
        {
            // Used twice, the statement is prepared automatically; then one is refused at bind.
            Assert.Equal(0, await CountAsync("a", batched));
            Assert.Equal(0, await CountAsync("b", batched));
            var refused = await Assert.ThrowsAsync<PostgresException>(() => CountAsync("bad\0name", batched));
            Assert.Equal("22021", refused.SqlState);
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(0, await CountAsync("c", batched));
                Assert.Equal(0, await CountAsync("d", !batched));
            }
        }
    }
}
