using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Server.Hosting;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>A server whose duty loop ticks once at startup and then not for an hour: nobody takes an expired lease.</summary>
public sealed class SleepyDutiesFixture : ServerFixture
{
    public override KilnServerOptions Options(string connectionString) =>
        base.Options(connectionString) with { DutyInterval = TimeSpan.FromHours(1) };
}

public sealed class LeaderlessStatusTests(SleepyDutiesFixture server) : IClassFixture<SleepyDutiesFixture>
{
    [Fact]
    public async Task Status_warns_when_no_replica_has_led_for_longer_than_the_bound()
    {
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        await using (var lapse = db.CreateCommand("""
            UPDATE leadership SET holder = 'gone-host:1:abc', fence = fence + 1, expires_at = now() - interval '1 minute' WHERE name = 'duties'
            """))
        {
            Assert.Equal(1, await lapse.ExecuteNonQueryAsync());
        }

        var status = (await server.Client.GetFromJsonAsync<FarmStatus>("/api/v1/status", KilnClient.Json))!;

        Assert.Null(status.Leadership.Leader);
        Assert.False(status.Replica.Leading);
        Assert.InRange(status.Leadership.LeaderlessSeconds, 59, 3600);
        Assert.Contains(status.Warnings, w => w.Contains("no replica has led", StringComparison.Ordinal));
    }
}
