using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using Microsoft.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Kiln.Engine.Tests.Web;

/// <summary>
/// A real OpenID Connect provider on loopback (OpenIddict, authorization code flow with PKCE,
/// clients in an in-memory store). It has no login form: its authorization endpoint signs in
/// <see cref="UserName"/> at once, as a provider with a remembered session would.
/// </summary>
public sealed class TestOidcProvider : IAsyncDisposable
{
    public const string ClientId = "kiln-farm";
    public const string ClientSecret = "kiln-farm-client-secret";

    private WebApplication _app = null!;

    /// <summary>The issuer: what Kiln is configured with as <c>--oidc-authority</c>.</summary>
    public string Issuer { get; private set; } = "";

    /// <summary>Who the next sign-in is (its preferred_username claim).</summary>
    public string UserName { get; set; } = "oidc-alice";

    public int Authorizations { get; private set; }

    public static async Task<TestOidcProvider> StartAsync()
    {
        var provider = new TestOidcProvider();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var database = "oidc-" + Guid.NewGuid().ToString("N");
        builder.Services.AddDbContext<DbContext>(o =>
        {
            o.UseInMemoryDatabase(database);
            o.UseOpenIddict();
        });
        builder.Services.AddOpenIddict()
            .AddCore(o => o.UseEntityFrameworkCore().UseDbContext<DbContext>())
            .AddServer(o =>
            {
                o.SetAuthorizationEndpointUris("connect/authorize").SetTokenEndpointUris("connect/token");
                o.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange();
                o.RegisterScopes(Scopes.OpenId, Scopes.Profile, Scopes.Email);
                o.AddEphemeralEncryptionKey().AddEphemeralSigningKey().DisableAccessTokenEncryption();
                o.UseAspNetCore().EnableAuthorizationEndpointPassthrough().DisableTransportSecurityRequirement();
            });
        var app = builder.Build();
        app.MapMethods("/connect/authorize", ["GET", "POST"], (HttpContext http) =>
        {
            var request = http.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenID Connect request");
            provider.Authorizations++;
            var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
            identity.AddClaim(new Claim(Claims.Subject, "subject-" + provider.UserName));
            identity.AddClaim(new Claim(Claims.PreferredUsername, provider.UserName));
            identity.AddClaim(new Claim(Claims.Name, "Alice Example"));
            identity.AddClaim(new Claim(Claims.Email, "alice@example.org"));
            identity.SetScopes(request.GetScopes());
            identity.SetDestinations(_ => [Destinations.AccessToken, Destinations.IdentityToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        });
        await app.StartAsync();
        provider._app = app;
        provider.Issuer = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/";
        return provider;
    }

    /// <summary>Registers Kiln as a confidential client whose sign-in comes back to <paramref name="redirectUri"/>.</summary>
    public async Task RegisterClientAsync(string redirectUri)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var manager = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        await manager.CreateAsync(new OpenIddictApplicationDescriptor
        {
            ClientId = ClientId,
            ClientSecret = ClientSecret,
            ClientType = ClientTypes.Confidential,
            RedirectUris = { new Uri(redirectUri) },
            Permissions =
            {
                Permissions.Endpoints.Authorization, Permissions.Endpoints.Token, Permissions.GrantTypes.AuthorizationCode,
                Permissions.ResponseTypes.Code, Permissions.Scopes.Profile, Permissions.Scopes.Email,
            },
            Requirements = { Requirements.Features.ProofKeyForCodeExchange },
        });
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
