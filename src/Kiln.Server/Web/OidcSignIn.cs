using System.Security.Claims;
using System.Text.RegularExpressions;
using Kiln.Core.Security;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Server.Web;

/// <summary>
/// The farm's external OpenID Connect provider, for browser sign-in (docs/ui.md): the provider's
/// issuer URL, this farm's client id and secret there, and the claim that names the Kiln user.
/// </summary>
public sealed record OidcOptions(string Authority, string ClientId, string ClientSecret, string UsernameClaim = "preferred_username", string DisplayName = "OpenID Connect");

/// <summary>
/// Sign-in through an OpenID Connect provider (ASP.NET Core's handler: authorization code flow
/// with PKCE). The provider's answer lands in a short-lived cookie of its own; the done step reads
/// the username claim, finds the Kiln user of that name — making it, without roles, on its first
/// sign-in (audit-logged) — and starts the same session a token sign-in starts. A disabled user
/// is refused. Only configured when <c>--oidc-authority</c> is set.
/// </summary>
public static partial class OidcSignIn
{
    public const string Scheme = "kiln-oidc";
    private static readonly string[] RequestedScopes = ["openid", "profile", "email"];
    private const string ResultScheme = "kiln-oidc-result";

    public static void AddKilnOidc(this IServiceCollection services, OidcOptions oidc)
    {
        services.AddAuthentication()
            .AddCookie(ResultScheme, c =>
            {
                c.Cookie.Name = "kiln_oidc";
                c.Cookie.Path = "/ui";
                c.Cookie.HttpOnly = true;
                c.Cookie.SameSite = SameSiteMode.Lax;
                c.ExpireTimeSpan = TimeSpan.FromMinutes(5);
            })
            .AddOpenIdConnect(Scheme, o =>
            {
                o.Authority = oidc.Authority;
                o.ClientId = oidc.ClientId;
                o.ClientSecret = oidc.ClientSecret;
                o.ResponseType = "code";
                o.UsePkce = true;
                o.CallbackPath = "/ui/sign-in/oidc/callback";
                o.SignInScheme = ResultScheme;
                o.SaveTokens = false;
                o.MapInboundClaims = false;
                o.Scope.Clear();
                foreach (var scope in RequestedScopes)
                {
                    o.Scope.Add(scope);
                }
                // http only for a provider on this machine (a test provider, a local Keycloak).
                o.RequireHttpsMetadata = !IsLoopbackHttp(oidc.Authority);
                o.TokenValidationParameters.NameClaimType = oidc.UsernameClaim;
            });
    }

    public static bool IsLoopbackHttp(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var u) && u.Scheme == "http" && (u.IsLoopback || u.Host == "localhost");

    public static void Map(RouteGroupBuilder ui, OidcOptions oidc)
    {
        ui.MapGet("/sign-in/oidc", (string? returnUrl) => Results.Challenge(
            new AuthenticationProperties { RedirectUri = "/ui/sign-in/oidc/done" + (WebUi.LocalOrNull(returnUrl) is { } back ? "?returnUrl=" + Uri.EscapeDataString(back) : "") },
            [Scheme]));
        ui.MapGet("/sign-in/oidc/done", (HttpContext http, string? returnUrl, UserStore users, IdentityStore identity, TokenStore tokens, CancellationToken ct) =>
            DoneAsync(http, oidc, WebUi.LocalOrNull(returnUrl), users, identity, tokens, ct));
    }

    private static async Task<IResult> DoneAsync(
        HttpContext http, OidcOptions oidc, string? returnUrl, UserStore users, IdentityStore identity, TokenStore tokens, CancellationToken ct)
    {
        var result = await http.AuthenticateAsync(ResultScheme);
        await http.SignOutAsync(ResultScheme);
        if (!result.Succeeded || result.Principal is not { } principal)
        {
            return WebUi.Message(http, StatusCodes.Status400BadRequest, "Sign-in failed", $"{oidc.DisplayName} did not sign you in (or the sign-in took over 5 minutes). Try again.");
        }
        var name = principal.FindFirstValue(oidc.UsernameClaim);
        if (name is null || !UserName().IsMatch(name))
        {
            return WebUi.Message(http, StatusCodes.Status403Forbidden, "No usable user name",
                $"{oidc.DisplayName} signed you in, but its '{oidc.UsernameClaim}' claim ('{name}') is not a Kiln user name (letters, digits, '.', '_' and '-', at most 63). Ask a farm admin.");
        }
        var caller = Caller.Of(http);
        var user = await users.GetAsync(name, ct)
            ?? await users.CreateAsync(name, principal.FindFirstValue("name") ?? "", principal.FindFirstValue("email") ?? "", admin: false,
                new AuditActor("system", null, $"oidc:{oidc.DisplayName}:{name}", caller.Address), ct)
            ?? await users.GetAsync(name, ct);
        if (user is null || user.Disabled)
        {
            return WebUi.Message(http, StatusCodes.Status403Forbidden, "User disabled", $"The Kiln user '{name}' is disabled; ask a farm admin.");
        }
        var now = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
        var session = await tokens.CreateAsync(user.Id, $"web interface sign-in through {oidc.DisplayName}", Scopes.All, now + WebSession.Lifetime,
            new AuditActor("user", user.Id, user.Name, caller.Address), ct);
        WebSession.Set(http, session.Token, now);
        return Results.Redirect(returnUrl ?? "/ui/");
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex UserName();
}
