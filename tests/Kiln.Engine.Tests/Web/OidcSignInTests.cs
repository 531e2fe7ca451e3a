using Kiln.Server.Hosting;
using Kiln.Server.Web;
using Kiln.Store.Identity;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;

namespace Kiln.Engine.Tests.Web;

/// <summary>
/// Browser sign-in through an external OpenID Connect provider (a real one, OpenIddict, on
/// loopback): the first sign-in makes the Kiln user, without roles; a later one finds it; a
/// disabled user is refused.
/// </summary>
public sealed class OidcSignInTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const float Patience = 120_000;

    [Fact]
    public async Task Signing_in_with_the_provider_makes_the_user_once_and_a_disabled_user_is_refused()
    {
        await using var provider = await TestOidcProvider.StartAsync();
        var connection = await TestCluster.CreateDatabaseAsync("oidc_sign_in");
        await using var host = await KilnServerHost.StartAsync(new KilnServerOptions
        {
            DatabaseUrl = connection,
            Urls = "http://127.0.0.1:0",
            WorkerToken = "test-registration-token",
            Oidc = new OidcOptions(provider.Issuer, TestOidcProvider.ClientId, TestOidcProvider.ClientSecret, DisplayName: "Test ID"),
        }, logging: b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
        await provider.RegisterClientAsync(host.Url.TrimEnd('/') + "/ui/sign-in/oidc/callback");

        var page = await browser.PageAsync(host.Url);
        await page.GotoAsync("/ui/workflows");
        await page.GetByRole(AriaRole.Link, new() { Name = "Sign in" }).ClickAsync();
        await BrowserFixture.ScreenshotBothAsync(page, "sign-in-oidc");
        // The first code flow JITs the handler, the provider and its store: minutes of patience on a loaded machine, not a timing.
        await page.GetByRole(AriaRole.Link, new() { Name = "Sign in with Test ID" }).ClickAsync(new() { Timeout = Patience });
        await page.WaitForURLAsync("**/ui/workflows", new() { Timeout = Patience });
        await Assertions.Expect(page.Locator(".who .user")).ToHaveTextAsync("oidc-alice");
        Assert.Equal(1, provider.Authorizations);
        var users = host.Services.GetRequiredService<UserStore>();
        var alice = await users.GetAsync("oidc-alice", CancellationToken.None);
        Assert.NotNull(alice);
        Assert.False(alice.Admin);
        Assert.Equal("alice@example.org", alice.Email);

        // Signed out and in again: the same user, not a second one.
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.GotoAsync("/ui/sign-in");
        await page.GetByRole(AriaRole.Link, new() { Name = "Sign in with Test ID" }).ClickAsync(new() { Timeout = Patience });
        await Assertions.Expect(page.Locator(".who .user")).ToHaveTextAsync("oidc-alice", new() { Timeout = Patience });
        Assert.Equal(alice.Id, (await users.GetAsync("oidc-alice", CancellationToken.None))!.Id);

        // A disabled user is refused, however the provider vouches for it.
        await users.SetDisabledAsync("oidc-alice", true, new AuditActor("system", null, "test", null), CancellationToken.None);
        var other = await browser.PageAsync(host.Url);
        await other.GotoAsync("/ui/sign-in");
        await other.GetByRole(AriaRole.Link, new() { Name = "Sign in with Test ID" }).ClickAsync(new() { Timeout = Patience });
        await Assertions.Expect(other.GetByRole(AriaRole.Heading, new() { Name = "User disabled" })).ToBeVisibleAsync(new() { Timeout = Patience });
        Assert.Equal(0, await other.Locator(".who .user").CountAsync());
    }
}
