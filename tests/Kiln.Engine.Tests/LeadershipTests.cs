using Kiln.Store.Database;
using Kiln.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Kiln.Engine.Tests;

public sealed class LeadershipTests
{
    [Fact]
    public async Task Only_one_of_two_replicas_leads_and_the_other_takes_over_when_it_goes()
    {
        await using var db = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("leader"));
        await using var first = new LeaderLock(db, NullLogger<LeaderLock>.Instance);
        await using var second = new LeaderLock(db, NullLogger<LeaderLock>.Instance);

        Assert.True(await first.CheckAsync(default));
        Assert.False(await second.CheckAsync(default));
        Assert.True(await first.CheckAsync(default));

        // The leader's session ends as a killed process's would: the lock goes with it.
        await KillLeaderSessionAsync(db);
        Assert.False(await first.CheckAsync(default) && await second.CheckAsync(default));
        Assert.True(first.IsLeader ^ second.IsLeader);
    }

    [Fact]
    public async Task Two_servers_migrating_at_once_apply_each_migration_exactly_once()
    {
        var cluster = await TestCluster.GetAsync();
        var name = $"fresh{Environment.ProcessId}";
        await using (var admin = new NpgsqlConnection(cluster.ConnectionString("postgres")))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }
        await using var db = NpgsqlDataSource.Create(cluster.ConnectionString(name));
        var applied = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => new Migrator(db, NullLogger.Instance).MigrateAsync())));
        Assert.Equal(Migrator.Migrations.Count, applied.Sum(a => a.Count));
        await using var count = db.CreateCommand("SELECT count(*) FROM schema_migrations");
        Assert.Equal((long)Migrator.Migrations.Count, (long)(await count.ExecuteScalarAsync())!);
    }

    private static async Task KillLeaderSessionAsync(NpgsqlDataSource db)
    {
        await using var cmd = db.CreateCommand($"""
            SELECT pg_terminate_backend(pid) FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objid = {LeaderLock.Key & 0xffffffff}
            """);
        Assert.NotNull(await cmd.ExecuteScalarAsync());
    }
}
