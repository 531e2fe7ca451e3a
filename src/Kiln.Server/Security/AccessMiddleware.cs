using Kiln.Core.Security;
using Kiln.Server.Api;
using Kiln.Store.Identity;
using Kiln.Store.Workers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Server.Security;

/// <summary>
/// The first gate of every request, after routing: reads the endpoint's <see cref="AccessPolicy"/>,
/// authenticates the bearer token (an API token per request, against the database, so a
/// revocation counts on the next request on every replica), and refuses what the policy does
/// not allow — 401 for no or a bad token, 403 for a caller the policy does not admit. Checks
/// against a particular project come after, in the endpoint (<see cref="ProjectAccess"/>).
/// Worker endpoints authenticate the worker's secret in their own filter (WorkerAuthFilter).
/// </summary>
public static class AccessMiddleware
{
    public static IApplicationBuilder UseKilnAccess(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var policy = http.GetEndpoint()?.Metadata.GetMetadata<AccessMetadata>()?.Policy;
        if (policy == AccessPolicy.Worker)
        {
            // Here, not only in the endpoint's filter: filters run after parameter binding, and a
            // missing query parameter must not answer a caller without a secret before the 401.
            if (await WorkerAuthFilter.AuthenticateAsync(http, http.RequestServices.GetRequiredService<WorkerStore>()) is { } refused)
            {
                if (refused is IStatusCodeHttpResult { StatusCode: StatusCodes.Status401Unauthorized })
                {
                    http.Response.Headers.WWWAuthenticate = "Bearer realm=\"kiln\"";
                }
                await refused.ExecuteAsync(http);
                return;
            }
            await next(http);
            return;
        }
        if (policy is null or AccessPolicy.Public or AccessPolicy.Registration)
        {
            // No endpoint (routing answers 404/405), or the endpoint authenticates on its own.
            await next(http);
            return;
        }
        var (caller, refusal) = await AuthenticateAsync(http);
        if (refusal is null)
        {
            Caller.Set(http, caller!);
            refusal = Admit(policy.Value, caller!);
        }
        if (refusal is not null)
        {
            if (refusal is UnauthorizedProblem)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer realm=\"kiln\"";
            }
            await refusal.Result.ExecuteAsync(http);
            return;
        }
        await next(http);
    });

    /// <summary>A refusal and whether it is a 401 (which also gets a WWW-Authenticate header).</summary>
    private record Refusal(IResult Result);

    private sealed record UnauthorizedProblem(IResult Result) : Refusal(Result);

    private static async Task<(Caller? Caller, Refusal? Refusal)> AuthenticateAsync(HttpContext http)
    {
        var address = Caller.Address_(http);
        var bearer = BearerToken(http.Request);
        if (bearer is null)
        {
            return http.Request.Headers.Authorization.Count > 0
                ? (null, Unauthorized("the Authorization header must be 'Bearer <token>'"))
                : (Caller.Anonymous with { Address = address }, null);
        }
        switch (TokenFormat.KindOf(bearer))
        {
            case TokenKind.Api:
                var (user, why) = await http.RequestServices.GetRequiredService<IdentityStore>().AuthenticateAsync(bearer, http.RequestAborted);
                return user is not null
                    ? (new Caller(user, null, address), null)
                    : (null, Unauthorized(why switch
                    {
                        TokenRefusal.Revoked => "this token was revoked; create a new one ('kiln token create') or sign in again ('kiln login')",
                        TokenRefusal.Expired => "this token has expired; create a new one ('kiln token create') or sign in again ('kiln login')",
                        TokenRefusal.UserDisabled => "this token's user is disabled; ask a farm admin",
                        _ => "unknown token; sign in with 'kiln login' (or check KILN_TOKEN)",
                    }));
            case TokenKind.Registration:
                return (null, Unauthorized("a registration token only registers workers (POST /api/v1/workers/register); use an API token"));
            default:
                // A worker's secret (kiln_wrk_…, or the hex secrets of workers registered before tokens had kinds).
                var worker = await http.RequestServices.GetRequiredService<WorkerStore>().AuthenticateAsync(bearer, http.RequestAborted);
                return worker is not null
                    ? (new Caller(null, worker, address), null)
                    : (null, Unauthorized("unknown token; sign in with 'kiln login' (or check KILN_TOKEN)"));
        }
    }

    private static Refusal? Admit(AccessPolicy policy, Caller caller)
    {
        if (policy == AccessPolicy.Read)
        {
            return caller.User is { } u && !u.Scopes.HasFlag(Scopes.Read) ? Forbidden("this token lacks the 'read' scope") : null;
        }
        if (caller.User is null)
        {
            return caller.Worker is not null
                ? Forbidden("a worker's secret is only for the worker protocol and for reading what its pool serves")
                : Unauthorized("sign in: send 'Authorization: Bearer <token>' (the CLI: 'kiln login --server URL')");
        }
        return policy switch
        {
            AccessPolicy.Submit when !caller.Has(Scopes.Submit) => Forbidden("this token lacks the 'submit' scope"),
            AccessPolicy.Operate or AccessPolicy.ProjectOwner when !caller.Has(Scopes.Operate) => Forbidden("this token lacks the 'operate' scope"),
            AccessPolicy.Admin when !caller.User.IsAdmin => Forbidden($"only a farm admin may do this, and '{caller.User.Name}' is not one"),
            AccessPolicy.Admin when !caller.Has(Scopes.Admin) => Forbidden("this token lacks the 'admin' scope"),
            _ => null,
        };
    }

    private static UnauthorizedProblem Unauthorized(string detail) => new(ApiProblems.Unauthorized(detail));

    private static Refusal Forbidden(string detail) => new(ApiProblems.Status(StatusCodes.Status403Forbidden, "Forbidden", detail));

    public static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 && header.Length < 512
            ? header[7..].Trim()
            : null;
    }
}
