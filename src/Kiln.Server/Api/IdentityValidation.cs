using System.Text.RegularExpressions;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Core.Security;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Api;

/// <summary>
/// The checks of what callers send to the identity endpoints, once, at the edge: each refusal is
/// a 400 naming the field. The user-name rule is the users table's own CHECK, so the database
/// never refuses a name with a 500.
/// </summary>
internal static partial class IdentityValidation
{
    public const int MaxCommentLength = 200;
    public const int MaxDisplayNameLength = 200;
    public const int MaxEmailLength = 254;
    public const int MaxDescriptionLength = 2000;
    public const int MaxExpiryDays = 366;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex UserName();

    public static IResult? User(string? name, string field = "name") => name is not null && UserName().IsMatch(name)
        ? null
        : ApiProblems.Invalid(field, "a user name is 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit");

    public static IResult? Project(string? name, string field = "name") => name is not null && Names.Identifier().IsMatch(name) && name.Length <= 100
        ? null
        : ApiProblems.Invalid(field, "a project name uses letters, digits, '.', '_' or '-' (at most 100)");

    public static IResult? Visibility(string? visibility) => visibility is null or "public" or "private"
        ? null
        : ApiProblems.Invalid("visibility", "must be 'public' or 'private'");

    public static IResult? Description(string? description) => description is null || description.Length <= MaxDescriptionLength
        ? null
        : ApiProblems.Invalid("description", $"at most {MaxDescriptionLength} characters");

    /// <summary>The scopes, comment and expiry of a token to create, checked against what the calling token may hand out.</summary>
    /// <param name="ceiling">The calling token's scopes: a token never makes one with more.</param>
    /// <param name="adminUser">Whether the new token's user is a farm admin (only theirs may carry <c>admin</c>).</param>
    public static (Scopes Scopes, DateTimeOffset? ExpiresAt, IResult? Problem) Token(CreateTokenRequest request, Scopes ceiling, bool adminUser, DateTimeOffset now)
    {
        if (request.Comment is { Length: > MaxCommentLength })
        {
            return (default, null, ApiProblems.Invalid("comment", $"at most {MaxCommentLength} characters"));
        }
        Scopes scopes;
        if (request.Scopes is null)
        {
            // The default (read, submit, operate), as far as the calling token has them.
            scopes = ScopeNames.Parse(ScopeNames.Default)!.Value & ceiling;
        }
        else
        {
            if (request.Scopes.Count == 0)
            {
                return (default, null, ApiProblems.Invalid("scopes", $"give at least one of {string.Join(", ", ScopeNames.All)} (or leave it out for the default)"));
            }
            for (var i = 0; i < request.Scopes.Count; i++)
            {
                if (ScopeNames.Parse([request.Scopes[i]]) is null)
                {
                    return (default, null, ApiProblems.Invalid($"scopes[{i}]", $"unknown scope; the scopes are {string.Join(", ", ScopeNames.All)}"));
                }
            }
            scopes = ScopeNames.Parse(request.Scopes)!.Value;
        }
        if (scopes.HasFlag(Scopes.Admin) && !adminUser)
        {
            return (default, null, Forbidden("only a farm admin's token may have the 'admin' scope"));
        }
        if ((scopes & ~ceiling) is var missing and not Scopes.None)
        {
            return (default, null, Forbidden($"a token can only make tokens with its own scopes, and this one lacks {string.Join(", ", ScopeNames.Names(missing).Select(n => $"'{n}'"))}"));
        }
        if (scopes == Scopes.None)
        {
            return (default, null, ApiProblems.Invalid("scopes", "this token has none of the default scopes (read, submit, operate) to hand on; name the scopes"));
        }
        DateTimeOffset? expires = null;
        if (request.ExpiresInDays is not null && request.ExpiresAt is not null)
        {
            return (default, null, ApiProblems.Invalid("expiresAt", "give expiresInDays or expiresAt, not both"));
        }
        if (request.ExpiresInDays is { } days)
        {
            if (days is < 1 or > MaxExpiryDays)
            {
                return (default, null, ApiProblems.Invalid("expiresInDays", $"must be 1 to {MaxExpiryDays}"));
            }
            expires = now.AddDays(days);
        }
        if (request.ExpiresAt is { } at)
        {
            if (at <= now || at > now.AddDays(MaxExpiryDays))
            {
                return (default, null, ApiProblems.Invalid("expiresAt", $"must be in the future and at most {MaxExpiryDays} days away"));
            }
            expires = at;
        }
        return (scopes, expires, null);
    }

    public static IResult Forbidden(string detail) => ApiProblems.Status(StatusCodes.Status403Forbidden, "Forbidden", detail);
}
