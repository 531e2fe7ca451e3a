using System.Globalization;
using System.Net.Http.Json;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    // ---- identity ----

    /// <summary>Who the API token belongs to, with the token's scopes and the user's roles.</summary>
    public Task<WhoAmIView> WhoAmIAsync(CancellationToken ct) => GetAsync<WhoAmIView>("api/v1/whoami", ct);

    /// <summary>Makes an API token for the caller; the answer's <see cref="CreatedTokenResponse.Token"/> is the only copy of its text.</summary>
    public Task<CreatedTokenResponse> CreateTokenAsync(CreateTokenRequest request, CancellationToken ct) =>
        SendAsync<CreatedTokenResponse>(HttpMethod.Post, "api/v1/tokens/", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    /// <summary>The caller's tokens, or (an admin) <paramref name="user"/>'s.</summary>
    public Task<Page<TokenView>> ListTokensAsync(string? user, int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<TokenView>>($"api/v1/tokens/{Query(("user", user), ("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    public Task<ActionResponse> RevokeTokenAsync(long id, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, $"api/v1/tokens/{id}", null, DefaultCallTimeout, ct);

    public Task<UserView> CreateUserAsync(CreateUserRequest request, CancellationToken ct) =>
        SendAsync<UserView>(HttpMethod.Post, "api/v1/users/", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<Page<UserView>> ListUsersAsync(int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<UserView>>($"api/v1/users/{Query(("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    public Task<ActionResponse> SetUserDisabledAsync(string name, bool disable, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/users/{Uri.EscapeDataString(name)}/{(disable ? "disable" : "enable")}", null, DefaultCallTimeout, ct);

    /// <summary>An admin makes a token for user <paramref name="name"/> (to hand over).</summary>
    public Task<CreatedTokenResponse> CreateUserTokenAsync(string name, CreateTokenRequest request, CancellationToken ct) =>
        SendAsync<CreatedTokenResponse>(HttpMethod.Post, $"api/v1/users/{Uri.EscapeDataString(name)}/tokens", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<ProjectView> CreateProjectAsync(CreateProjectRequest request, CancellationToken ct) =>
        SendAsync<ProjectView>(HttpMethod.Post, "api/v1/projects/", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<ProjectView> UpdateProjectAsync(string name, UpdateProjectRequest request, CancellationToken ct) =>
        SendAsync<ProjectView>(HttpMethod.Patch, $"api/v1/projects/{Uri.EscapeDataString(name)}", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<IReadOnlyList<MemberView>> ListMembersAsync(string project, CancellationToken ct) =>
        GetAsync<IReadOnlyList<MemberView>>($"api/v1/projects/{Uri.EscapeDataString(project)}/members", ct);

    public Task<ActionResponse> SetMemberAsync(string project, string user, string role, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Put, $"api/v1/projects/{Uri.EscapeDataString(project)}/members/{Uri.EscapeDataString(user)}",
            JsonContent.Create(new SetMemberRequest(role), options: Json), DefaultCallTimeout, ct);

    public Task<ActionResponse> RemoveMemberAsync(string project, string user, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, $"api/v1/projects/{Uri.EscapeDataString(project)}/members/{Uri.EscapeDataString(user)}", null, DefaultCallTimeout, ct);

    /// <summary>The audit log, newest first.</summary>
    public Task<Page<AuditEntryView>> ListAuditAsync(string? action, string? actor, string? target, int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<AuditEntryView>>($"api/v1/audit{Query(("action", action), ("actor", actor), ("target", target), ("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);
}
