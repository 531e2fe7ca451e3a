using System.Globalization;
using Kiln.Contracts;
using Kiln.Server.Api;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Kiln.Store.Repositories;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Repositories;

/// <summary>
/// The publish call of <c>apt/publish</c> and <c>rpm/publish</c> jobs (worker-authenticated, fenced on
/// worker and lease), and the project's repositories as a user sees them. The files are served by
/// <see cref="RepositoryFiles"/> at <c>/repos/…</c>.
/// </summary>
public static partial class RepositoriesApi
{
    private const int BodyMaxBytes = 4 * 1024;

    public static IEndpointRouteBuilder MapRepositoriesApi(this IEndpointRouteBuilder routes)
    {
        routes.MapPost("/api/v1/work-requests/{id:long}/publish", PublishAsync)
            .WithTags("Repositories")
            .Allow(AccessPolicy.Worker).AddEndpointFilter<WorkerAuthFilter>()
            .Accepts<PublishRequest>("application/json")
            .Produces<PublishResponse>()
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Worker: publish the artifacts of this apt/publish or rpm/publish job's needs into the project's repository for its suite (signed, incremental, atomic; one publisher per repository at a time). 409 when the lease is not held, the job is not a publish job, or a file conflicts with a published one.");
        var group = routes.MapGroup("/api/v1/projects/{name}/repositories").WithTags("Repositories");
        group.MapGet("/", ListAsync).Produces<IReadOnlyList<RepositoryView>>().Allow(AccessPolicy.Read)
            .WithSummary("The project's published repositories: suite, format, snapshot served, package count, URL and the sources.list line (or .repo file).");
        group.MapGet("/{suite}", GetAsync).Produces<RepositoryDetail>().Allow(AccessPolicy.Read)
            .WithSummary("One repository with its pool files by filename ('limit' 1-500, default 100; 'after': the previous page's 'next').");
        return routes;
    }

    private static async Task<IResult> PublishAsync(
        long id, HttpContext http, PublishSource source, RepositoryPublisher publisher, ILogger<RepositoryPublisher> logger, CancellationToken ct)
    {
        var (body, problem) = await ApiJson.ReadAsync<PublishRequest>(http.Request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        var job = await source.JobAsync(id, body!.LeaseToken, WorkerAuthFilter.Worker(http).Id, ct);
        if (job is null)
        {
            return ApiProblems.NotFound($"work request {id} does not exist");
        }
        if (!job.Held)
        {
            return ApiProblems.Status(StatusCodes.Status409Conflict, "Lease not held",
                $"this lease does not hold a running attempt of work request {id}; only its running attempt may publish");
        }
        var format = job.Uses switch { "apt/publish" => "apt", "rpm/publish" => "rpm", _ => null };
        if (format is null)
        {
            return ApiProblems.Conflict("uses", $"work request {id} is not a publish job (uses: {job.Uses ?? "none"}); only apt/publish and rpm/publish jobs publish");
        }
        if (!RepositoryPublisher.IsSuite(job.Suite))
        {
            return ApiProblems.Conflict("with.suite", $"'{job.Suite}' is not a suite name: lower-case letters, digits and . + _ -, at most 64, not key.asc or key.gpg");
        }
        var inputs = await source.InputsAsync(id, RepositoryPublisher.MaxInputs + 1, ct);
        if (inputs.Count > RepositoryPublisher.MaxInputs)
        {
            return ApiProblems.Status(StatusCodes.Status413PayloadTooLarge, "Too many files",
                $"the jobs work request {id} needs made more than {RepositoryPublisher.MaxInputs} artifacts; publish in several jobs");
        }
        try
        {
            var outcome = await publisher.PublishAsync(job, format, inputs, ct);
            var server = RepositoryLinks.Server(http.Request);
            return TypedResults.Ok(new PublishResponse($"{job.Project}/{job.Suite}", outcome.Snapshot, outcome.Added, outcome.Unchanged,
                RepositoryLinks.Url(server, job.Project, job.Suite!), RepositoryLinks.SourcesLine(server, job.Project, job.Suite!, format)));
        }
        catch (PublishRefusedException e)
        {
            return TypedResults.Problem(title: e.Status == StatusCodes.Status409Conflict ? "Conflict" : "Not a package", detail: $"{e.File}: {e.Message}",
                statusCode: e.Status, extensions: new Dictionary<string, object?> { ["file"] = e.File });
        }
        catch (Exception e) when (e is ToolFailedException or ToolMissingException or TimeoutException)
        {
            // The host cannot publish now (a tool missing or failing): the worker fails the attempt and it is retried.
            LogToolFailed(logger, id, e.Message);
            return ApiProblems.Status(StatusCodes.Status503ServiceUnavailable, "Publishing failed", e.Message);
        }
    }

    private static async Task<IResult> ListAsync(string name, HttpContext http, AccessStore projects, RepositoryStore store, CancellationToken ct)
    {
        var project = await projects.OfProjectAsync(name, ct);
        if (ProjectAccess.Decide(Caller.Of(http), project, ProjectNeed.Read, $"project '{name}' does not exist") is { } refused)
        {
            return refused;
        }
        var server = RepositoryLinks.Server(http.Request);
        return TypedResults.Ok((await store.ListAsync(project!.ProjectId, ct)).Select(r => RepositoryLinks.View(server, project.ProjectName, r)).ToList());
    }

    private static async Task<IResult> GetAsync(
        string name, string suite, string? limit, string? after, HttpContext http, AccessStore projects, RepositoryStore store, CancellationToken ct)
    {
        var project = await projects.OfProjectAsync(name, ct);
        if (ProjectAccess.Decide(Caller.Of(http), project, ProjectNeed.Read, $"project '{name}' does not exist") is { } refused)
        {
            return refused;
        }
        var n = 100;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out n) || n < 1 || n > ListQuery.MaxLimit))
        {
            return ApiProblems.Invalid("limit", $"must be a whole number from 1 to {ListQuery.MaxLimit}");
        }
        if (after is { Length: > 512 })
        {
            return ApiProblems.Invalid("after", "must be the 'next' value of a previous page");
        }
        if (!RepositoryPublisher.IsSuite(suite) || await store.GetAsync(project!.ProjectId, suite, ct) is not { } repository)
        {
            return ApiProblems.NotFound($"project '{name}' has no repository for suite '{suite}'");
        }
        var rows = await store.PageAsync(repository.Id, after, n, ct);
        var page = rows.Take(n).Select(p => new RepositoryPackageView(
            p.Package, p.Version, p.Architecture, p.Filename, p.Sha256, p.Size, p.SourcePackage, p.WorkRequestId, p.PublishedAt)).ToList();
        return TypedResults.Ok(new RepositoryDetail(RepositoryLinks.View(RepositoryLinks.Server(http.Request), project.ProjectName, repository),
            page, rows.Count > n ? page[^1].Filename : null));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Publishing work request {Id} failed on the server host: {Message}")]
    private static partial void LogToolFailed(ILogger logger, long id, string message);
}
