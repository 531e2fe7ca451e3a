using Kiln.Core.Security;
using Kiln.Server.Api;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Security;

/// <summary>What a caller wants to do to a project's resource.</summary>
public enum ProjectNeed
{
    /// <summary>See it: public, or a member (any role), an admin, or a worker whose pool serves it.</summary>
    Read,

    /// <summary>Cancel or retry: a maintainer, or a contributor on a workflow it submitted.</summary>
    CancelOrRetry,

    /// <summary>Re-prioritise: a maintainer.</summary>
    Prioritise,

    /// <summary>Submit: a contributor.</summary>
    Submit,

    /// <summary>The project's own settings, members and secrets: an owner.</summary>
    Own,
}

/// <summary>
/// The second gate: what this caller may do to this project. A project the caller may not see
/// answers exactly as one that does not exist (404, same text), so names and ids of private
/// projects do not leak; one it may see but not change answers 403 naming the role needed.
/// Farm admins (with the admin scope) may do everything.
/// </summary>
public sealed class ProjectAccess(AccessStore store, AuditStore audit)
{
    public static bool CanSee(Caller caller, ProjectOfResource project) =>
        !project.IsPrivate || caller.IsAdmin || caller.RoleIn(project.ProjectId) >= ProjectRole.Viewer || WorkerServes(caller, project);

    /// <summary>A worker sees the projects its pool may serve (it downloads their jobs' inputs).</summary>
    private static bool WorkerServes(Caller caller, ProjectOfResource project) =>
        caller.Worker is not null && WorkerVisibility.Serves(caller.Worker, project);

    /// <summary>Checks <paramref name="need"/> on workflow <paramref name="id"/>; null when allowed, else the refusal.</summary>
    public async Task<IResult?> WorkflowAsync(HttpContext http, long id, ProjectNeed need) =>
        Decide(Caller.Of(http), await store.OfWorkflowAsync(id, http.RequestAborted), need, $"workflow {id} does not exist");

    /// <summary>Checks <paramref name="need"/> on work request <paramref name="id"/>; null when allowed, else the refusal.</summary>
    public async Task<IResult?> WorkRequestAsync(HttpContext http, long id, ProjectNeed need) =>
        Decide(Caller.Of(http), await store.OfWorkRequestAsync(id, http.RequestAborted), need, $"work request {id} does not exist");

    /// <summary>Checks <paramref name="need"/> on project <paramref name="name"/>; null when allowed, else the refusal (404 when it does not exist).</summary>
    public async Task<IResult?> ProjectAsync(HttpContext http, string name, ProjectNeed need) =>
        Decide(Caller.Of(http), await store.OfProjectAsync(name, http.RequestAborted), need, $"project '{name}' does not exist");

    /// <summary>
    /// Checks that the caller may submit to project <paramref name="name"/>. A project that does
    /// not exist yet is created, public, with the caller as its owner (as Copr and OBS let users
    /// make their own projects); farm policy on it stays an admin's.
    /// </summary>
    public async Task<IResult?> SubmitAsync(HttpContext http, string name)
    {
        var caller = Caller.Of(http);
        var project = await store.OfProjectAsync(name, http.RequestAborted);
        if (project is null && caller.User is { } user
            && await store.CreateProjectAsync(name, user.UserId, isPrivate: false, "", http.RequestAborted) is { } created)
        {
            // Later checks of this same request (kiln build uploads, then submits) see the caller as the new project's owner.
            Caller.Set(http, caller with { User = user with
            {
                Roles = new Dictionary<long, ProjectRole>(user.Roles) { [created] = ProjectRole.Owner },
                ProjectIds = new Dictionary<string, long>(user.ProjectIds) { [name] = created },
            } });
            await audit.RecordAsync(caller.Actor, "project.create", $"project:{name}", new { visibility = "public", description = "", by = "submission" }, http.RequestAborted);
            return null;
        }
        project ??= await store.OfProjectAsync(name, http.RequestAborted);
        return Decide(caller, project, ProjectNeed.Submit, $"project '{name}' does not exist");
    }

    /// <summary>
    /// The private projects a list must leave out for this caller, or null when it may see every
    /// project (an admin, or a farm with no private project it is not a member of) — then the list
    /// runs its usual statement.
    /// </summary>
    public async Task<long[]?> HiddenProjectsAsync(HttpContext http)
    {
        var caller = Caller.Of(http);
        if (caller.IsAdmin)
        {
            return null;
        }
        var hidden = await store.HiddenProjectsAsync([.. caller.User?.Roles.Keys ?? []], http.RequestAborted);
        if (caller.Worker is { } worker)
        {
            hidden = [.. hidden.Where(id => !WorkerVisibility.Serves(worker, new ProjectOfResource(id, "", true, null)))];
        }
        return hidden.Length == 0 ? null : hidden;
    }

    /// <summary>The decision itself, given what the resource belongs to (null: it does not exist).</summary>
    public static IResult? Decide(Caller caller, ProjectOfResource? project, ProjectNeed need, string notFound)
    {
        if (project is null || !CanSee(caller, project))
        {
            return ApiProblems.NotFound(notFound);
        }
        if (need == ProjectNeed.Read || caller.IsAdmin)
        {
            return null;
        }
        var role = caller.RoleIn(project.ProjectId);
        var allowed = need switch
        {
            ProjectNeed.CancelOrRetry => role >= ProjectRole.Maintainer
                || (role == ProjectRole.Contributor && project.SubmittedBy is { } by && by == caller.User?.UserId),
            ProjectNeed.Prioritise => role >= ProjectRole.Maintainer,
            ProjectNeed.Submit => role >= ProjectRole.Contributor,
            ProjectNeed.Own => role >= ProjectRole.Owner,
            _ => false,
        };
        if (allowed)
        {
            return null;
        }
        var needed = need switch
        {
            ProjectNeed.CancelOrRetry => "the maintainer role (a contributor may cancel and retry only the workflows it submitted)",
            ProjectNeed.Prioritise => "the maintainer role",
            ProjectNeed.Submit => "the contributor role",
            _ => "the owner role",
        };
        return ApiProblems.Status(StatusCodes.Status403Forbidden, "Forbidden",
            $"this needs {needed} in project '{project.ProjectName}'; {caller.Name} has {(role == ProjectRole.None ? "no role" : $"the {ProjectRoles.Name(role)} role")} there (ask one of its owners: 'kiln project member list {project.ProjectName}')");
    }
}
