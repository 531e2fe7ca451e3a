using Kiln.Core.Security;
using Kiln.Store.Engine;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Security;

/// <summary>
/// Who is calling, as authenticated for this request: nobody (anonymous), a user through one
/// of its API tokens, or a worker through its own secret. Set by <see cref="AccessMiddleware"/>
/// on every endpoint that is not <see cref="AccessPolicy.Public"/>.
/// </summary>
public sealed record Caller(AuthenticatedUser? User, WorkerIdentity? Worker, string? Address)
{
    private const string ItemKey = "kiln.caller";

    public static readonly Caller Anonymous = new(null, null, null);

    public bool IsAnonymous => User is null && Worker is null;

    /// <summary>A farm admin acting with the <c>admin</c> scope.</summary>
    public bool IsAdmin => User is { IsAdmin: true } u && u.Scopes.HasFlag(Scopes.Admin);

    public bool Has(Scopes scope) => User is { } u && u.Scopes.HasFlag(scope);

    public ProjectRole RoleIn(long projectId) => User is { } u && u.Roles.TryGetValue(projectId, out var role) ? role : ProjectRole.None;

    /// <summary>Who did it, for the audit log and messages: the user's or worker's name, else "anonymous".</summary>
    public string Name => User?.Name ?? Worker?.Name ?? "anonymous";

    /// <summary>This caller as the audit log records it.</summary>
    public AuditActor Actor => User is { } u ? new AuditActor("user", u.UserId, u.Name, Address)
        : Worker is { } w ? new AuditActor("worker", w.Id, w.Name, Address)
        : new AuditActor("anonymous", null, "anonymous", Address);

    public static Caller Of(HttpContext http) => http.Items.TryGetValue(ItemKey, out var caller) && caller is Caller c ? c : Anonymous with { Address = Address_(http) };

    internal static void Set(HttpContext http, Caller caller) => http.Items[ItemKey] = caller;

    internal static string? Address_(HttpContext http) => http.Connection.RemoteIpAddress?.ToString();
}
