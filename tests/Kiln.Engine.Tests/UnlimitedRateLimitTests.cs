using System.Net;
using Kiln.Server.Hosting;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>Every limit set to 0: unlimited, as a farm behind its own limiting proxy runs.</summary>
public sealed class UnlimitedRateLimitsFixture : ServerFixture
{
    public override KilnServerOptions Options(string connectionString) => base.Options(connectionString) with
    {
        RateLimitPerMinute = 0,
        AnonymousRateLimitPerMinute = 0,
        WorkerRateLimitPerMinute = 0,
    };
}

public sealed class UnlimitedRateLimitTests(UnlimitedRateLimitsFixture server) : IClassFixture<UnlimitedRateLimitsFixture>
{
    [Fact]
    public async Task Limits_of_zero_refuse_nothing_however_many_requests_come()
    {
        // More than the default budgets' buckets hold for one address (120) and within a minute.
        using var anonymous = server.AnonymousClient();
        var refused = 0;
        for (var i = 0; i < 150; i++)
        {
            using var read = await anonymous.GetAsync("/api/v1/workflows/?limit=1");
            using var signedIn = await server.Client.GetAsync("/api/v1/workflows/?limit=1");
            refused += (read.StatusCode == HttpStatusCode.OK ? 0 : 1) + (signedIn.StatusCode == HttpStatusCode.OK ? 0 : 1);
        }
        Assert.Equal(0, refused);
    }
}
