using System.Net;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Core.Security;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Registration tokens enrol workers into their pool until revoked or expired, are stored only as
/// their SHA-256, and cannot take over a worker name another pool holds.
/// </summary>
public sealed class RegistrationTokenTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private readonly PoolSetup _farm = new(server);

    [Fact]
    public async Task Revoked_expired_and_unknown_registration_tokens_are_refused_with_401_saying_why()
    {
        await _farm.PoolAsync(new PoolRequest("rt-pool"));
        var revoked = await _farm.TokenAsync("rt-pool");
        using (var revoke = await _farm.Admin.DeleteAsync($"/api/v1/registration-tokens/{revoked.Token.Id}"))
        {
            Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        }
        await PoolSetup.AssertProblemAsync(await _farm.RegisterAsync(revoked.Secret, "rt-1"), HttpStatusCode.Unauthorized, "revoked");

        var expiring = await _farm.TokenAsync("rt-pool", days: 1);
        Assert.NotNull(expiring.Token.ExpiresAt);
        await _farm.SqlAsync("UPDATE registration_tokens SET expires_at = now() - interval '1 minute' WHERE id = @p0", expiring.Token.Id);
        await PoolSetup.AssertProblemAsync(await _farm.RegisterAsync(expiring.Secret, "rt-1"), HttpStatusCode.Unauthorized, "expired");

        await PoolSetup.AssertProblemAsync(await _farm.RegisterAsync(TokenFormat.New(TokenKind.Registration), "rt-1"), HttpStatusCode.Unauthorized, "unknown registration token");
        await PoolSetup.AssertProblemAsync(await _farm.RegisterAsync("not-a-token", "rt-1"), HttpStatusCode.Unauthorized, "kiln worker token create");

        // A live one enrols; the list shows prefixes and states, never a token's text, and the table holds only hashes.
        var live = await _farm.TokenAsync("rt-pool");
        (await _farm.WorkerAsync(live.Secret, "rt-1")).Client.Dispose();
        var listed = (await _farm.Admin.GetFromJsonAsync<Page<RegistrationTokenView>>("/api/v1/registration-tokens/?pool=rt-pool"))!.Items;
        Assert.Equal(3, listed.Count);
        Assert.NotNull(listed.Single(t => t.Id == revoked.Token.Id).RevokedAt);
        Assert.All(listed, t => Assert.StartsWith("kiln_reg_", t.Prefix, StringComparison.Ordinal));
        Assert.DoesNotContain(live.Secret, await _farm.Admin.GetStringAsync("/api/v1/registration-tokens/"), StringComparison.Ordinal);
        Assert.Equal(1L, await _farm.SqlAsync("SELECT count(*) FROM registration_tokens WHERE hash = sha256(convert_to(@p0, 'UTF8'))", live.Secret));
    }

    [Fact]
    public async Task A_worker_name_enrolled_in_one_pool_is_not_taken_over_by_another_pools_token_until_it_is_removed()
    {
        await _farm.PoolAsync(new PoolRequest("rt-first"));
        await _farm.PoolAsync(new PoolRequest("rt-second"));
        var first = await _farm.TokenAsync("rt-first");
        var second = await _farm.TokenAsync("rt-second");
        (await _farm.WorkerAsync(first.Secret, "rt-shared")).Client.Dispose();

        await PoolSetup.AssertProblemAsync(await _farm.RegisterAsync(second.Secret, "rt-shared"), HttpStatusCode.Conflict,
            "enrolled in pool 'rt-first'", "kiln worker remove rt-shared");
        // The farm-wide token enrols into the default pool: the same refusal.
        await PoolSetup.AssertProblemAsync(await _farm.RegisterAsync(server.Host.WorkerToken!, "rt-shared"), HttpStatusCode.Conflict, "rt-first");

        using (var remove = await _farm.Admin.DeleteAsync("/api/v1/workers/rt-shared"))
        {
            Assert.Equal(HttpStatusCode.OK, remove.StatusCode);
        }
        var (moved, registration) = await _farm.WorkerAsync(second.Secret, "rt-shared");
        moved.Dispose();
        Assert.Equal("rt-second", registration.Pool);
    }

    [Fact]
    public async Task A_registration_token_is_an_admins_to_make()
    {
        using var worker = await server.RegisterWorkerAsync("rt-curious");
        using var asWorker = await worker.PostAsJsonAsync("/api/v1/pools/default/registration-tokens", new CreateRegistrationTokenRequest());
        Assert.Equal(HttpStatusCode.Forbidden, asWorker.StatusCode);
        using var badExpiry = await _farm.Admin.PostAsJsonAsync("/api/v1/pools/default/registration-tokens", new CreateRegistrationTokenRequest(null, 0));
        await PoolSetup.AssertProblemAsync(badExpiry, HttpStatusCode.BadRequest);
        Assert.Contains("expiresInDays", await badExpiry.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
