using Kiln.Core.Security;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Server.Web;

/// <summary>
/// Who a browser is, for the pages under <c>/ui</c> only: the <c>kiln_session</c> cookie holds an
/// API token of its own, made at sign-in (with the scopes of the token the user signed in with,
/// for 12 hours) and revoked at sign-out. The cookie is <c>HttpOnly</c>, <c>SameSite=Lax</c>, scoped
/// to <c>/ui</c>, and <c>Secure</c> when the request came over TLS. The API never reads it (it
/// takes bearer tokens only), so a page on another site cannot act through it; the pages' own
/// forms carry an anti-forgery token checked by <see cref="ValidAsync"/>.
/// </summary>
public static class WebSession
{
    public const string CookieName = "kiln_session";

    /// <summary>How long a browser sign-in lasts.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    /// <summary>Sets the caller of a <c>/ui</c> request from its session cookie (anonymous without one, or with a stale one).</summary>
    public static IApplicationBuilder UseWebSession(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        if (http.Request.Path.StartsWithSegments("/ui", StringComparison.Ordinal))
        {
            http.Response.Headers.ContentSecurityPolicy =
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
            http.Response.Headers.XContentTypeOptions = "nosniff";
            http.Response.Headers["Referrer-Policy"] = "same-origin";
            http.Response.Headers.XFrameOptions = "DENY";
            var caller = Caller.Anonymous with { Address = http.Connection.RemoteIpAddress?.ToString() };
            if (http.Request.Cookies[CookieName] is { Length: > 0 and < 512 } token && TokenFormat.KindOf(token) == TokenKind.Api)
            {
                var (user, _) = await http.RequestServices.GetRequiredService<IdentityStore>().AuthenticateAsync(token, http.RequestAborted);
                if (user is not null)
                {
                    caller = caller with { User = user };
                }
                else
                {
                    Clear(http);
                }
            }
            Caller.Set(http, caller);
        }
        await next(http);
    });

    public static void Set(HttpContext http, string token, DateTimeOffset now) => http.Response.Cookies.Append(CookieName, token, Options(http, now + Lifetime));

    public static void Clear(HttpContext http) => http.Response.Cookies.Delete(CookieName, Options(http, null));

    private static CookieOptions Options(HttpContext http, DateTimeOffset? expires) => new()
    {
        HttpOnly = true,
        Secure = http.Request.IsHttps,
        SameSite = SameSiteMode.Lax,
        Path = "/ui",
        Expires = expires,
        IsEssential = true,
    };

    /// <summary>The anti-forgery token a page's forms carry (its cookie is set on the way).</summary>
    public static string FormToken(HttpContext http) =>
        http.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(http).RequestToken ?? "";

    /// <summary>True when a posted form carries a valid anti-forgery token.</summary>
    public static Task<bool> ValidAsync(HttpContext http) =>
        http.RequestServices.GetRequiredService<IAntiforgery>().IsRequestValidAsync(http);
}
