using System.Text.Json;

namespace Kiln.Contracts;

/// <summary>Who the caller is (<c>GET /api/v1/whoami</c>): the user, the token it signed in with, its memberships.</summary>
public sealed record WhoAmIView(string Name, string DisplayName, string Email, bool Admin, WhoAmIToken Token, IReadOnlyList<MembershipView> Memberships);

/// <summary>The token of the request: its id (for <c>kiln token revoke</c>), scopes and expiry (null: none).</summary>
public sealed record WhoAmIToken(long Id, IReadOnlyList<string> Scopes, DateTimeOffset? ExpiresAt);

/// <summary>A user's role in one project.</summary>
public sealed record MembershipView(string Project, string Role);

/// <summary>
/// A token to create (<c>POST /api/v1/tokens</c>). Scopes default to read, submit, operate and
/// must be among the calling token's own (admin only for an admin user). An expiry is optional:
/// <see cref="ExpiresInDays"/> (1–366) or <see cref="ExpiresAt"/> (in the future, within 366 days), not both.
/// </summary>
/// <param name="Comment">What the token is for (at most 200 characters).</param>
public sealed record CreateTokenRequest(string? Comment, IReadOnlyList<string>? Scopes = null, int? ExpiresInDays = null, DateTimeOffset? ExpiresAt = null);

/// <summary>An API token as lists show it: never its text nor its hash, only the first characters (<see cref="Prefix"/>).</summary>
public sealed record TokenView(
    long Id, string User, string Prefix, string Comment, IReadOnlyList<string> Scopes,
    DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt);

/// <summary>A token just made: <see cref="Token"/> is its text, shown this once and stored nowhere.</summary>
public sealed record CreatedTokenResponse(string Token, TokenView View);

/// <summary>A user to add (<c>POST /api/v1/users</c>).</summary>
/// <param name="Name">Letters, digits, '.', '_' or '-', starting with a letter or digit (at most 63).</param>
public sealed record CreateUserRequest(string? Name, string? DisplayName = null, string? Email = null, bool? Admin = null);

/// <summary>A user of the farm.</summary>
public sealed record UserView(long Id, string Name, string DisplayName, string Email, bool Admin, bool Disabled, DateTimeOffset CreatedAt, DateTimeOffset? DisabledAt);

/// <summary>A project to create (<c>POST /api/v1/projects</c>); the caller becomes its owner.</summary>
/// <param name="Visibility"><c>public</c> (the default: anyone may read it) or <c>private</c> (members only).</param>
public sealed record CreateProjectRequest(string? Name, string? Description = null, string? Visibility = null);

/// <summary>The settings of a project that are its owners' (<c>PATCH /api/v1/projects/{name}</c>); unset fields stay.</summary>
public sealed record UpdateProjectRequest(string? Description = null, string? Visibility = null);

/// <summary>A member of a project.</summary>
public sealed record MemberView(string User, string DisplayName, string Role, DateTimeOffset AddedAt);

/// <summary>The role to give a user in a project (<c>PUT /api/v1/projects/{name}/members/{user}</c>).</summary>
/// <param name="Role"><c>viewer</c>, <c>contributor</c>, <c>maintainer</c> or <c>owner</c>.</param>
public sealed record SetMemberRequest(string? Role);

/// <summary>One entry of the audit log: who (kind, name, address), when, what, to what.</summary>
public sealed record AuditEntryView(long Id, DateTimeOffset At, string ActorKind, string Actor, string? Address, string Action, string Target, JsonElement Details);
