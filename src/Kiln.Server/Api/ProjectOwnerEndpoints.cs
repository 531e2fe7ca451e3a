using Kiln.Contracts;
using Kiln.Core.Security;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Kiln.Store.Scheduling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// A project's owner side: create a project (the caller becomes its owner), change its
/// description and visibility, and manage its members. Farm policy on a project (weight, base
/// priority, cap: <c>PUT /api/v1/projects/{name}</c>) stays an admin's, in <see cref="ProjectsApi"/>.
/// A project always keeps at least one owner.
/// </summary>
internal static class ProjectOwnerEndpoints
{
    public static void Map(IEndpointRouteBuilder routes, int bodyMaxBytes)
    {
        var projects = routes.MapGroup("/api/v1/projects").WithTags("Projects");
        projects.MapPost("/", async (HttpRequest request, ProjectOwnerStore owners, ProjectStore store, CancellationToken ct) =>
            {
                var (body, problem) = await ApiJson.ReadAsync<CreateProjectRequest>(request, bodyMaxBytes, ct);
                if (problem is not null)
                {
                    return problem;
                }
                if ((IdentityValidation.Project(body!.Name) ?? IdentityValidation.Visibility(body.Visibility) ?? IdentityValidation.Description(body.Description)) is { } bad)
                {
                    return bad;
                }
                var caller = Caller.Of(request.HttpContext);
                if (!await owners.CreateAsync(body.Name!, caller.User!.UserId, body.Visibility ?? "public", body.Description ?? "", caller.Actor, ct))
                {
                    return ApiProblems.Conflict("name", $"project '{body.Name}' exists already");
                }
                return TypedResults.Created($"/api/v1/projects/{body.Name}", await store.GetAsync(body.Name!, ct));
            })
            .Allow(AccessPolicy.Submit)
            .Accepts<CreateProjectRequest>("application/json")
            .Produces<ProjectView>(StatusCodes.Status201Created)
            .WithSummary("Create a project: name, optional description and visibility (public, the default, or private); the caller becomes its owner.");
        projects.MapPatch("/{name}", async (string name, HttpRequest request, AccessStore access, ProjectOwnerStore owners, ProjectStore store, CancellationToken ct) =>
            {
                if (await ResolveAsync(request.HttpContext, name, ProjectNeed.Own, access) is { Refused: { } refused })
                {
                    return refused;
                }
                var (body, problem) = await ApiJson.ReadAsync<UpdateProjectRequest>(request, bodyMaxBytes, ct);
                if (problem is not null)
                {
                    return problem;
                }
                if ((IdentityValidation.Visibility(body!.Visibility) ?? IdentityValidation.Description(body.Description)) is { } bad)
                {
                    return bad;
                }
                await owners.UpdateAsync(name, body.Description, body.Visibility, Caller.Of(request.HttpContext).Actor, ct);
                return TypedResults.Ok(await store.GetAsync(name, ct));
            })
            .Allow(AccessPolicy.ProjectOwner)
            .Accepts<UpdateProjectRequest>("application/json")
            .Produces<ProjectView>()
            .WithSummary("Change what a project's owners decide: its description and visibility (public|private); unset fields stay.");
        projects.MapGet("/{name}/members", async (string name, HttpContext http, AccessStore access, ProjectOwnerStore owners, CancellationToken ct) =>
                await ResolveAsync(http, name, ProjectNeed.Read, access) is { Refused: { } refused }
                    ? refused
                    : TypedResults.Ok(await owners.MembersAsync((await access.OfProjectAsync(name, ct))!.ProjectId, ct)))
            .Allow(AccessPolicy.Read)
            .Produces<IReadOnlyList<MemberView>>()
            .WithSummary("A project's members and their roles (viewer, contributor, maintainer, owner).");
        projects.MapPut("/{name}/members/{user}", async (string name, string user, HttpRequest request, AccessStore access, ProjectOwnerStore owners, CancellationToken ct) =>
            {
                var (project, refused) = await ResolveAsync(request.HttpContext, name, ProjectNeed.Own, access);
                if (refused is not null)
                {
                    return refused;
                }
                if (IdentityValidation.User(user, "user") is { } bad)
                {
                    return bad;
                }
                var (body, problem) = await ApiJson.ReadAsync<SetMemberRequest>(request, bodyMaxBytes, ct);
                if (problem is not null)
                {
                    return problem;
                }
                if (ProjectRoles.Parse(body!.Role) is not { } role)
                {
                    return ApiProblems.Invalid("role", $"must be one of {string.Join(", ", ProjectRoles.Names)}");
                }
                return Answer(await owners.SetMemberAsync(project!.ProjectId, name, user, role, Caller.Of(request.HttpContext).Actor, ct), name, user,
                    $"'{user}' is now {ProjectRoles.Name(role)} of project '{name}'", $"'{user}' is {ProjectRoles.Name(role)} of project '{name}' already");
            })
            .Allow(AccessPolicy.ProjectOwner)
            .Accepts<SetMemberRequest>("application/json")
            .Produces<ActionResponse>()
            .WithSummary("Give a user a role in the project (adds it as a member, or changes its role); counts from the user's next request.");
        projects.MapDelete("/{name}/members/{user}", async (string name, string user, HttpContext http, AccessStore access, ProjectOwnerStore owners, CancellationToken ct) =>
            {
                var (project, refused) = await ResolveAsync(http, name, ProjectNeed.Own, access);
                if (refused is not null)
                {
                    return refused;
                }
                if (IdentityValidation.User(user, "user") is { } bad)
                {
                    return bad;
                }
                return Answer(await owners.SetMemberAsync(project!.ProjectId, name, user, null, Caller.Of(http).Actor, ct), name, user,
                    $"'{user}' is no longer a member of project '{name}'", "");
            })
            .Allow(AccessPolicy.ProjectOwner)
            .Produces<ActionResponse>()
            .WithSummary("Remove a user from the project; counts from the user's next request.");
    }

    /// <summary>The project, or the refusal: 404 when the caller may not see it (as if it did not exist), 403 naming the role needed.</summary>
    private static async Task<(ProjectOfResource? Project, IResult? Refused)> ResolveAsync(HttpContext http, string name, ProjectNeed need, AccessStore access)
    {
        if (IdentityValidation.Project(name) is { } bad)
        {
            return (null, bad);
        }
        var project = await access.OfProjectAsync(name, http.RequestAborted);
        return (project, ProjectAccess.Decide(Caller.Of(http), project, need, $"project '{name}' does not exist"));
    }

    private static IResult Answer(MemberChange change, string project, string user, string changed, string unchanged) => change switch
    {
        MemberChange.Changed => TypedResults.Ok(new ActionResponse(1, changed)),
        MemberChange.Unchanged => TypedResults.Ok(new ActionResponse(0, unchanged)),
        MemberChange.LastOwner => ApiProblems.Conflict($"'{user}' is the last owner of project '{project}'; make another member owner first (a project must keep an owner)"),
        _ => ApiProblems.NotFound(unchanged.Length == 0
            ? $"'{user}' is not a member of project '{project}'"
            : $"no user named '{user}'"),
    };
}
