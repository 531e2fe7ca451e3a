using Kiln.Store.Database;
using Kiln.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

public sealed class LeadershipTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Only_one_of_two_replicas_leads_and_the_other_sees_who()
    {
        await using var db = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("leader"));
        var first = Lease(db, TimeSpan.FromSeconds(15));
        var second = Lease(db, TimeSpan.FromSeconds(15));

        Assert.True(await first.TickAsync(default));
        Assert.False(await second.TickAsync(default));
        Assert.True(await first.TickAsync(default));
        Assert.False(await second.TickAsync(default));

        Assert.True(first.MayRunDuties);
        Assert.False(second.MayRunDuties);
        Assert.Equal(first.ReplicaId, second.LastSeen!.Holder);
        Assert.Equal(first.Fence, second.LastSeen.Fence);
        Assert.NotEqual(first.ReplicaId, second.ReplicaId);
    }

    [Fact]
    public async Task A_follower_takes_over_once_the_silent_leaders_lease_expires_and_the_old_leader_then_runs_no_duty()
    {
        await using var db = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("takeover"));
        // Long enough that a loaded machine's stall between two statements is not a silence.
        var lease = TimeSpan.FromSeconds(5);
        var first = Lease(db, lease);
        var second = Lease(db, lease);
        Assert.True(await first.TickAsync(default));
        var firstFence = first.Fence!.Value;
        Assert.False(await second.TickAsync(default));

        // The leader goes silent (frozen, partitioned, dead): nothing renews its lease. The
        // follower keeps ticking and must take over by itself, with a new fence.
        await EventuallyAsync(() => second.TickAsync(default), "the follower to take over");
        Assert.Equal(firstFence + 1, second.Fence);
        Assert.True(second.MayRunDuties);

        // The old leader wakes up: its own clock already says its lease is over, and the renewal
        // is refused because the fence moved on.
        Assert.False(first.MayRunDuties);
        Assert.False(await first.TickAsync(default));
        Assert.Null(first.Fence);
        Assert.Equal(second.ReplicaId, first.LastSeen!.Holder);
        Assert.True(await second.TickAsync(default));
    }

    [Fact]
    public async Task A_leader_that_renews_keeps_leadership_past_the_length_of_one_lease()
    {
        await using var db = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("renew"));
        var lease = TimeSpan.FromSeconds(5);
        var first = Lease(db, lease, renewEvery: TimeSpan.FromMilliseconds(200));
        var second = Lease(db, lease);
        Assert.True(await first.TickAsync(default));
        var until = DateTime.UtcNow + lease + TimeSpan.FromSeconds(1.5);
        while (DateTime.UtcNow < until)
        {
            Assert.True(await first.TickAsync(default));
            Assert.False(await second.TickAsync(default));
            await Task.Delay(100);
        }
        Assert.Equal(1, first.Fence);
    }

    [Fact]
    public async Task A_leader_frozen_past_its_lease_may_run_no_duty_before_it_has_renewed()
    {
        await using var db = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("frozen"));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var leader = new LeaderLease(db, new LeadershipOptions { Lease = TimeSpan.FromSeconds(15) }, time, NullLogger<LeaderLease>.Instance);
        Assert.True(await leader.TickAsync(default));
        Assert.True(leader.MayRunDuties);

        // Its own clock moves on while nothing runs (SIGSTOP): past lease − margin, no duty may start.
        time.Advance(TimeSpan.FromSeconds(11));
        Assert.False(leader.MayRunDuties);
    }

    [Fact]
    public async Task A_leader_that_stops_hands_leadership_over_at_once()
    {
        await using var db = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("handover"));
        var first = Lease(db, TimeSpan.FromSeconds(30));
        var second = Lease(db, TimeSpan.FromSeconds(30));
        Assert.True(await first.TickAsync(default));
        await first.ReleaseAsync();
        Assert.False(first.MayRunDuties);
        Assert.True(await second.TickAsync(default));
        Assert.Equal(2, second.Fence);
    }

    [Fact]
    public async Task A_replica_whose_clock_differs_from_the_databases_measures_the_skew()
    {
        await using var db = NpgsqlDataSource.Create(await TestCluster.CreateDatabaseAsync("skew"));
        var off = TimeSpan.FromMinutes(-7);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow + off);
        var replica = new LeaderLease(db, new LeadershipOptions(), time, NullLogger<LeaderLease>.Instance);
        await replica.TickAsync(default);
        Assert.InRange(replica.ClockSkew!.Value.TotalSeconds, off.TotalSeconds - 5, off.TotalSeconds + 5);

        // The leader's skew is stored with its next renewal, for status.
        time.Advance(TimeSpan.FromSeconds(2));
        await replica.TickAsync(default);
        Assert.InRange(replica.LastSeen!.HolderClockSkew.TotalSeconds, off.TotalSeconds - 5, off.TotalSeconds + 5);
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

    private static LeaderLease Lease(NpgsqlDataSource db, TimeSpan lease, TimeSpan? renewEvery = null) =>
        new(db, new LeadershipOptions { Lease = lease, RenewEvery = renewEvery ?? TimeSpan.FromSeconds(1) }, TimeProvider.System, NullLogger<LeaderLease>.Instance);

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (!await condition())
        {
            Assert.False(deadline.IsCancellationRequested, $"waited {Patience.TotalSeconds} s for {what}");
            await Task.Delay(100);
        }
    }
}
