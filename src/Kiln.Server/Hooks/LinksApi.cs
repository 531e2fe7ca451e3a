using Kiln.Contracts;
using Kiln.Server.Api;
using Kiln.Server.Security;
using Kiln.Store.Events;
using Kiln.Store.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Hooks;

/// <summary>
/// Repository links: a project's owners link forge repositories (<c>/api/v1/projects/{name}/links</c>),
/// list them and unlink them (<c>/api/v1/links/{id}</c>); no answer carries a secret or token.
/// A maintainer may reconcile a link (<c>POST /api/v1/links/{id}/reconcile</c>).
/// </summary>
public static class LinksApi
{
    private const int BodyMaxBytes = 64 * 1024;

    public static IEndpointRouteBuilder MapLinksApi(this IEndpointRouteBuilder routes)
    {
        var project = routes.MapGroup("/api/v1/projects/{name}/links").WithTags("Events");
        project.MapPost("", LinkAsync)
            .Allow(AccessPolicy.ProjectOwner)
            .Accepts<LinkRepositoryRequest>("application/json")
            .Produces<RepositoryLinkView>(StatusCodes.Status201Created)
            .Produces<RepositoryLinkView>()
            .WithSummary("Link a forge repository (forge, repository, secret; optionally apiUrl, token, hookId, reconcileSeconds) to the project: its webhooks verify with the secret. "
                + "Linking it again replaces the secret and settings (200). Secrets and tokens are sealed and never shown back. Project owners and admins.");
        project.MapGet("", ListAsync)
            .Allow(AccessPolicy.ProjectOwner)
            .Produces<IReadOnlyList<RepositoryLinkView>>()
            .WithSummary("The project's repository links, without their secrets. Project owners and admins.");
        var links = routes.MapGroup("/api/v1/links/{id}").WithTags("Events");
        links.MapGet("", GetAsync)
            .Allow(AccessPolicy.ProjectOwner)
            .Produces<RepositoryLinkView>()
            .WithSummary("One repository link, without its secret. Owners of its project and admins.");
        links.MapDelete("", UnlinkAsync)
            .Allow(AccessPolicy.ProjectOwner)
            .Produces<ActionResponse>()
            .WithSummary("Unlink: the repository's deliveries are refused from now on (404, stored as rejected); its events stay. Owners of its project and admins.");
        links.MapPost("/reconcile", ReconcileAsync)
            .Allow(AccessPolicy.Operate)
            .Produces<ReconcileReport>()
            .WithSummary("Ask the forge what Kiln missed and feed it in: GitHub redelivers the hook's deliveries Kiln never stored (with hookId); "
                + "branch and tag heads Kiln has not seen become push and tag events. Needs the link's apiUrl. Maintainers of its project and admins.");
        return routes;
    }

    private static async Task<IResult> LinkAsync(string name, HttpRequest request, ProjectAccess access, AccessStore projects, RepositoryLinkStore store, CancellationToken ct)
    {
        if (await access.ProjectAsync(request.HttpContext, name, ProjectNeed.Own) is { } refused)
        {
            return refused;
        }
        var (body, problem) = await ApiJson.ReadAsync<LinkRepositoryRequest>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var (spec, invalid) = LinkValidation.Check(body!);
        if (invalid is not null)
        {
            return invalid;
        }
        var owner = (await projects.OfProjectAsync(name, ct))!;
        var caller = Caller.Of(request.HttpContext);
        if (await store.UpsertAsync(owner.ProjectId, owner.ProjectName, spec!, caller.Actor, caller.User?.UserId, ct) is not { } saved)
        {
            return ApiProblems.Conflict("repository", $"project '{name}' has {RepositoryLinkStore.MaxPerProject} repository links, the most it may hold; unlink one first");
        }
        var view = (await store.GetAsync(saved.Id, ct))!;
        return saved.Created ? TypedResults.Created($"/api/v1/links/{saved.Id}", view) : TypedResults.Ok(view);
    }

    private static async Task<IResult> ListAsync(string name, HttpContext http, ProjectAccess access, AccessStore projects, RepositoryLinkStore store, CancellationToken ct)
    {
        if (await access.ProjectAsync(http, name, ProjectNeed.Own) is { } refused)
        {
            return refused;
        }
        return TypedResults.Ok(await store.ListAsync((await projects.OfProjectAsync(name, ct))!.ProjectId, ct));
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, RepositoryLinkStore store, CancellationToken ct) =>
        await DecideAsync(http, id, ProjectNeed.Own, store, ct) is { Refused: { } refused }
            ? refused
            : await store.GetAsync(id, ct) is { } view ? TypedResults.Ok(view) : NotFound(id);

    private static async Task<IResult> UnlinkAsync(long id, HttpContext http, RepositoryLinkStore store, CancellationToken ct)
    {
        var (project, refused) = await DecideAsync(http, id, ProjectNeed.Own, store, ct);
        if (refused is not null)
        {
            return refused;
        }
        return await store.DeleteAsync(id, project!.ProjectName, Caller.Of(http).Actor, ct)
            ? TypedResults.Ok(new ActionResponse(1, $"link {id} of project '{project.ProjectName}' removed; its repository's deliveries are refused from now on"))
            : NotFound(id);
    }

    private static async Task<IResult> ReconcileAsync(long id, HttpContext http, RepositoryLinkStore store, LinkReconciler reconciler, CancellationToken ct)
    {
        if (await DecideAsync(http, id, ProjectNeed.Prioritise, store, ct) is { Refused: { } refused })
        {
            return refused;
        }
        try
        {
            return TypedResults.Ok(await reconciler.ReconcileAsync(id, ct));
        }
        catch (ReconcileException e)
        {
            return ApiProblems.Status(e.Status, e.Status == StatusCodes.Status409Conflict ? "Conflict" : "The forge did not answer as expected", e.Message);
        }
    }

    /// <summary>The link's project and the refusal, if any: a link of a project the caller may not see answers as one that does not exist.</summary>
    private static async Task<(ProjectOfResource? Project, IResult? Refused)> DecideAsync(HttpContext http, long id, ProjectNeed need, RepositoryLinkStore store, CancellationToken ct)
    {
        var project = await store.OwnerAsync(id, ct);
        return (project, ProjectAccess.Decide(Caller.Of(http), project, need, $"repository link {id} does not exist"));
    }

    private static IResult NotFound(long id) => ApiProblems.NotFound($"repository link {id} does not exist");
}
