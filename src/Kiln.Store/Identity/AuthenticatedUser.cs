using Kiln.Core.Security;

namespace Kiln.Store.Identity;

/// <summary>A user authenticated by one of its API tokens, with its memberships as of this request.</summary>
/// <param name="Scopes">The token's scopes.</param>
/// <param name="Roles">The user's role per project id.</param>
/// <param name="ProjectIds">The user's project ids by project name (for checks that start from a name).</param>
public sealed record AuthenticatedUser(
    long UserId,
    string Name,
    bool IsAdmin,
    long TokenId,
    Scopes Scopes,
    IReadOnlyDictionary<long, ProjectRole> Roles,
    IReadOnlyDictionary<string, long> ProjectIds);

/// <summary>Why a presented API token authenticates nobody.</summary>
public enum TokenRefusal
{
    Unknown,
    Revoked,
    Expired,
    UserDisabled,
}
