using Kiln.Contracts;
using Kiln.Server.Api;
using Kiln.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Packaging;

/// <summary>
/// <c>/api/v1/…/rebuilds</c>: a maintainer plans a mass rebuild of a suite's published source
/// packages (or named ones), submits it in batches (each batch answers how many remain), and
/// anyone who may see the project reads its progress and what failed to build.
/// </summary>
public static class RebuildsApi
{
    private const int BodyMaxBytes = 1024 * 1024;

    public static IEndpointRouteBuilder MapRebuildsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGroup("/api/v1/projects/{name}/rebuilds").WithTags("Rebuilds").MapPost("/", StartAsync)
            .Accepts<StartRebuildRequest>("application/json")
            .Produces<StartRebuildResponse>(StatusCodes.Status201Created)
            .Produces<StartRebuildResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .Allow(AccessPolicy.Operate)
            .WithSummary("Plan a mass rebuild of the suite's published source packages ('allPublished') or the named ones ('packages'; names not published are listed in 'unknown'). Maintainer role. The same rebuild asked again is the same one (200). Then submit it with POST /api/v1/rebuilds/{id}/submit until nothing is pending.");
        var group = routes.MapGroup("/api/v1/rebuilds/{id:long}").WithTags("Rebuilds");
        group.MapPost("/submit", SubmitAsync).Produces<RebuildSubmitResponse>().Allow(AccessPolicy.Operate)
            .WithSummary("Submit up to 'max' (default 20, at most 100) of the rebuild's pending packages, one workflow each with the mass-rebuild trigger; answers how many are still pending. Maintainer role.");
        group.MapGet("/", GetAsync).Produces<RebuildView>().Allow(AccessPolicy.Read)
            .WithSummary("A rebuild's packages counted by workflow state ('pending': not submitted yet) and the ones that failed to build, with the failing job.");
        return routes;
    }

    private static async Task<IResult> StartAsync(string name, HttpContext http, ProjectAccess access, MassRebuilds rebuilds, CancellationToken ct)
    {
        // Who may ask is settled before the body is read.
        if (await access.ProjectAsync(http, name, ProjectNeed.Prioritise) is { } denied)
        {
            return denied;
        }
        var (body, problem) = await ApiJson.ReadAsync<StartRebuildRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var (answer, refused) = await rebuilds.StartAsync(http, name, body!, ct);
        if (refused is not null)
        {
            return refused;
        }
        return answer!.Created ? TypedResults.Created($"/api/v1/rebuilds/{answer.Id}", answer) : TypedResults.Ok(answer);
    }

    private static async Task<IResult> SubmitAsync(long id, int? max, HttpContext http, MassRebuilds rebuilds, CancellationToken ct)
    {
        var (answer, refused) = await rebuilds.SubmitAsync(http, id, max ?? 20, ct);
        return refused ?? TypedResults.Ok(answer);
    }

    private static Task<IResult> GetAsync(long id, HttpContext http, MassRebuilds rebuilds, CancellationToken ct) => rebuilds.GetAsync(http, id, ct);
}
