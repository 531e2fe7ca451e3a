using Kiln.Contracts;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Server.Api;

/// <summary>
/// Identity and access as users and admins manage it: <c>/api/v1/whoami</c>, API tokens
/// (<c>/api/v1/tokens</c>), users (<c>/api/v1/users</c>, admins), a project's owner side
/// (<see cref="ProjectOwnerEndpoints"/>) and the audit log (<c>/api/v1/audit</c>, admins).
/// Every change is recorded in the audit log in the change's own transaction.
/// </summary>
public static class IdentityApi
{
    private const int BodyMaxBytes = 16 * 1024;

    /// <summary>The stores these endpoints use.</summary>
    public static IServiceCollection AddIdentityStores(this IServiceCollection services) =>
        services.AddSingleton<TokenStore>().AddSingleton<UserStore>().AddSingleton<ProjectOwnerStore>();

    public static IEndpointRouteBuilder MapIdentityApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/v1/whoami", async (HttpContext http, TokenStore tokens, CancellationToken ct) =>
            {
                var user = Caller.Of(http).User!;
                return await tokens.WhoAmIAsync(user.TokenId, user.Scopes, ct) is { } view
                    ? TypedResults.Ok(view)
                    : ApiProblems.Unauthorized("this token no longer exists");
            })
            .Allow(AccessPolicy.User)
            .WithTags("Identity")
            .Produces<WhoAmIView>()
            .WithSummary("Who the caller is: the user, the token's id, scopes and expiry, and the user's project roles.");

        var tokens = routes.MapGroup("/api/v1/tokens").WithTags("Identity");
        tokens.MapPost("/", CreateOwnTokenAsync)
            .Allow(AccessPolicy.User)
            .Accepts<CreateTokenRequest>("application/json")
            .Produces<CreatedTokenResponse>(StatusCodes.Status201Created)
            .WithSummary("Create an API token for the caller; its text is in this answer and nowhere else, ever. Scopes default to read, submit, operate and never exceed the calling token's.");
        tokens.MapGet("/", ListTokensAsync)
            .Allow(AccessPolicy.User)
            .Produces<Page<TokenView>>()
            .WithSummary("The caller's tokens (an admin: ?user=NAME for another user's), without their text.");
        tokens.MapDelete("/{id:long}", RevokeTokenAsync)
            .Allow(AccessPolicy.User)
            .Produces<ActionResponse>()
            .WithSummary("Revoke a token (one's own; an admin: anyone's); it is refused from the next request on.");

        var users = routes.MapGroup("/api/v1/users").WithTags("Identity");
        UserEndpoints.Map(users, BodyMaxBytes);

        ProjectOwnerEndpoints.Map(routes, BodyMaxBytes);

        routes.MapGet("/api/v1/audit", async (AuditStore audit, string? action, string? actor, string? target, string? limit, string? after, CancellationToken ct) =>
            {
                var (n, cursor, problem) = ListQuery.Parse(limit, after);
                if (problem is not null)
                {
                    return problem;
                }
                foreach (var (field, value) in new[] { ("action", action), ("actor", actor), ("target", target) })
                {
                    if (value is { Length: 0 or > 200 })
                    {
                        return ApiProblems.Invalid(field, "1 to 200 characters");
                    }
                }
                return TypedResults.Ok(await audit.ListAsync(action, actor, target, cursor, n, ct));
            })
            .Allow(AccessPolicy.Admin)
            .WithTags("Identity")
            .Produces<Page<AuditEntryView>>()
            .WithSummary("The audit log, newest first: who did what to what, when and from where; filters ?action=, ?actor=, ?target= (exact).");
        return routes;
    }

    private static async Task<IResult> CreateOwnTokenAsync(HttpRequest request, TokenStore tokens, TimeProvider time, CancellationToken ct)
    {
        var caller = Caller.Of(request.HttpContext);
        var user = caller.User!;
        var (body, problem) = await ApiJson.ReadAsync<CreateTokenRequest>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var (scopes, expires, refused) = IdentityValidation.Token(body!, user.Scopes, user.IsAdmin, time.GetUtcNow());
        if (refused is not null)
        {
            return refused;
        }
        var created = await tokens.CreateAsync(user.UserId, body!.Comment ?? "", scopes, expires, caller.Actor, ct);
        return TypedResults.Created((string?)null, created);
    }

    private static async Task<IResult> ListTokensAsync(HttpContext http, TokenStore tokens, UserStore users, string? user, string? limit, string? after, CancellationToken ct)
    {
        var caller = Caller.Of(http);
        var (n, cursor, problem) = ListQuery.Parse(limit, after);
        if (problem is not null)
        {
            return problem;
        }
        var userId = caller.User!.UserId;
        if (user is not null && user != caller.User.Name)
        {
            if (!caller.IsAdmin)
            {
                return IdentityValidation.Forbidden("only a farm admin (with the 'admin' scope) may list another user's tokens");
            }
            if (IdentityValidation.User(user, "user") is { } bad)
            {
                return bad;
            }
            if (await users.GetAsync(user, ct) is not { } found)
            {
                return ApiProblems.NotFound($"no user named '{user}'");
            }
            userId = found.Id;
        }
        return TypedResults.Ok(await tokens.ListAsync(userId, cursor, n, ct));
    }

    private static async Task<IResult> RevokeTokenAsync(long id, HttpContext http, TokenStore tokens, CancellationToken ct)
    {
        var caller = Caller.Of(http);
        return await tokens.RevokeAsync(id, caller.IsAdmin ? null : caller.User!.UserId, caller.Actor, ct) switch
        {
            RevokeOutcome.Revoked => TypedResults.Ok(new ActionResponse(1, $"token {id} revoked; it is refused from the next request on")),
            RevokeOutcome.AlreadyRevoked => TypedResults.Ok(new ActionResponse(0, $"token {id} was already revoked")),
            _ => ApiProblems.NotFound($"token {id} does not exist (or is not yours); 'kiln token list' lists yours"),
        };
    }
}
