using System.Text;
using Kiln.Server.Hooks;
using Kiln.Testing;

namespace Kiln.Engine.Tests.Hooks;

/// <summary>
/// The hook endpoints are public: a flood of forged deliveries from one address is answered, but
/// stores at most <see cref="ForgeIntake.StoredRejectionsPerMinute"/> security events a minute.
/// (A class of its own: its server's rejection budget is spent by this test alone.)
/// </summary>
public sealed class RejectionFloodTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private FakeForge _forge = null!;
    private HookFarm _farm = null!;

    public async Task InitializeAsync()
    {
        _forge = await FakeForge.StartAsync();
        _farm = new HookFarm(server, _forge);
    }

    public async Task DisposeAsync() => await _forge.DisposeAsync();

    [Fact]
    public async Task A_flood_of_forged_deliveries_is_refused_each_time_but_stores_a_bounded_number_of_security_events()
    {
        var (_, repo, _, hook) = await _farm.LinkedAsync("github");
        var (name, body) = FakeForgePayloads.Push(repo, "refs/heads/main", FakeForgePayloads.Zero, new string('9', 40));
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        var flood = ForgeIntake.StoredRejectionsPerMinute + 40;

        var answers = new List<int>();
        for (var i = 0; i < flood; i++)
        {
            var forged = await _forge.SendAsync(hook, name, null, bytes, tamper: r =>
            {
                r.Headers.Remove("X-Hub-Signature-256");
                r.Headers.Add("X-Hub-Signature-256", "sha256=" + new string('0', 64));
            });
            answers.Add(forged.StatusCode);
        }

        Assert.All(answers, status => Assert.Equal(401, status));
        var stored = await _farm.EventsAsync("state = 'rejected' AND facts->>'repository' = @key", key: repo.FullName);
        // the budget refills one a second, so a slow machine may store a few more than the bucket, never the flood
        Assert.InRange(stored.Count, ForgeIntake.StoredRejectionsPerMinute, flood - 20);
    }
}
