using Kiln.Contracts;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// <c>/api/v1/users</c>, for farm admins: add a user, list and show users, disable one (its
/// tokens are refused from the next request on) or enable it again, and mint a user's first
/// token — how a new user gets in without single sign-on: the admin hands the token over.
/// </summary>
internal static class UserEndpoints
{
    public static void Map(RouteGroupBuilder users, int bodyMaxBytes)
    {
        users.MapPost("/", async (HttpRequest request, UserStore store, CancellationToken ct) =>
            {
                var (body, problem) = await ApiJson.ReadAsync<CreateUserRequest>(request, bodyMaxBytes, ct);
                if (problem is not null)
                {
                    return problem;
                }
                if (IdentityValidation.User(body!.Name) is { } bad)
                {
                    return bad;
                }
                if (body.DisplayName is { Length: > IdentityValidation.MaxDisplayNameLength })
                {
                    return ApiProblems.Invalid("displayName", $"at most {IdentityValidation.MaxDisplayNameLength} characters");
                }
                if (body.Email is { Length: > 0 } email && (email.Length > IdentityValidation.MaxEmailLength || !email.Contains('@', StringComparison.Ordinal) || email.Any(char.IsWhiteSpace)))
                {
                    return ApiProblems.Invalid("email", $"an address like name@example.org (at most {IdentityValidation.MaxEmailLength} characters)");
                }
                var user = await store.CreateAsync(body.Name!, body.DisplayName ?? "", body.Email ?? "", body.Admin ?? false, Caller.Of(request.HttpContext).Actor, ct);
                return user is null
                    ? ApiProblems.Conflict("name", $"a user named '{body.Name}' exists already")
                    : TypedResults.Created($"/api/v1/users/{user.Name}", user);
            })
            .Allow(AccessPolicy.Admin)
            .Accepts<CreateUserRequest>("application/json")
            .Produces<UserView>(StatusCodes.Status201Created)
            .WithSummary("Add a user: name, optional displayName, email, admin. It signs in with a token an admin makes for it (POST /api/v1/users/{name}/tokens).");
        users.MapGet("/", async (UserStore store, string? limit, string? after, CancellationToken ct) =>
            {
                var (n, cursor, problem) = ListQuery.Parse(limit, after);
                return problem ?? TypedResults.Ok(await store.ListAsync(cursor, n, ct));
            })
            .Allow(AccessPolicy.Admin)
            .Produces<Page<UserView>>()
            .WithSummary("The farm's users, oldest first.");
        users.MapGet("/{name}", async (string name, UserStore store, CancellationToken ct) =>
                IdentityValidation.User(name) ?? (await store.GetAsync(name, ct) is { } user ? TypedResults.Ok(user) : Unknown(name)))
            .Allow(AccessPolicy.Admin)
            .Produces<UserView>()
            .WithSummary("One user.");
        users.MapPost("/{name}/disable", (string name, HttpContext http, UserStore store, CancellationToken ct) => SetDisabledAsync(name, true, http, store, ct))
            .Allow(AccessPolicy.Admin)
            .Produces<ActionResponse>()
            .WithSummary("Disable a user: its tokens are refused from the next request on. The last enabled admin cannot be disabled.");
        users.MapPost("/{name}/enable", (string name, HttpContext http, UserStore store, CancellationToken ct) => SetDisabledAsync(name, false, http, store, ct))
            .Allow(AccessPolicy.Admin)
            .Produces<ActionResponse>()
            .WithSummary("Enable a disabled user: its tokens that are neither revoked nor expired work again.");
        users.MapPost("/{name}/tokens", async (string name, HttpRequest request, UserStore store, TokenStore tokens, TimeProvider time, CancellationToken ct) =>
            {
                if (IdentityValidation.User(name) is { } bad)
                {
                    return bad;
                }
                var (body, problem) = await ApiJson.ReadAsync<CreateTokenRequest>(request, bodyMaxBytes, ct);
                if (problem is not null)
                {
                    return problem;
                }
                if (await store.GetAsync(name, ct) is not { } user)
                {
                    return Unknown(name);
                }
                if (user.Disabled)
                {
                    return ApiProblems.Conflict($"user '{name}' is disabled; enable it first ('kiln user enable {name}')");
                }
                var caller = Caller.Of(request.HttpContext);
                var (scopes, expires, refused) = IdentityValidation.Token(body!, caller.User!.Scopes, user.Admin, time.GetUtcNow());
                return refused ?? TypedResults.Created((string?)null, await tokens.CreateAsync(user.Id, body!.Comment ?? "", scopes, expires, caller.Actor, ct));
            })
            .Allow(AccessPolicy.Admin)
            .Accepts<CreateTokenRequest>("application/json")
            .Produces<CreatedTokenResponse>(StatusCodes.Status201Created)
            .WithSummary("Make an API token for a user (its first, to hand over); the same body and rules as POST /api/v1/tokens.");
    }

    private static async Task<IResult> SetDisabledAsync(string name, bool disable, HttpContext http, UserStore store, CancellationToken ct)
    {
        if (IdentityValidation.User(name) is { } bad)
        {
            return bad;
        }
        return await store.SetDisabledAsync(name, disable, Caller.Of(http).Actor, ct) switch
        {
            UserChange.Changed => TypedResults.Ok(new ActionResponse(1, disable
                ? $"user '{name}' disabled: its tokens are refused from the next request on; undo with 'kiln user enable {name}'"
                : $"user '{name}' enabled")),
            UserChange.Unchanged => TypedResults.Ok(new ActionResponse(0, $"user '{name}' is {(disable ? "disabled" : "enabled")} already; nothing changed")),
            UserChange.LastAdmin => ApiProblems.Conflict($"user '{name}' is the last enabled admin; make another admin first ('kiln user add NAME --admin'), or nobody could manage the farm"),
            _ => Unknown(name),
        };
    }

    private static IResult Unknown(string name) => ApiProblems.NotFound($"no user named '{name}'; 'kiln user list' lists them");
}
