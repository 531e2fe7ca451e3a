using Kiln.Contracts;
using Kiln.Server.Security;
using Kiln.Store.Identity;
using Kiln.Store.Outbox;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Api;

/// <summary>
/// Outgoing webhooks (docs/outgoing-webhooks.md): a project's owners and maintainers subscribe a URL
/// to its workflow, job and event changes, see each delivery with its answer, and redeliver one.
/// The signing secret is shown once, in the answer to a create or a rotate. A subscription of a
/// project the caller may not see answers as one that does not exist (404).
/// </summary>
public static class WebhooksApi
{
    private const int BodyMaxBytes = 16 * 1024;
    private const int MaxUrl = 2000;
    private const int MaxDescription = 200;

    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder routes)
    {
        var project = routes.MapGroup("/api/v1/projects/{name}/webhooks").WithTags("Webhooks");
        project.MapPost("", CreateAsync)
            .Allow(AccessPolicy.Operate)
            .Accepts<CreateWebhookRequest>("application/json")
            .Produces<WebhookSecretView>(StatusCodes.Status201Created)
            .WithSummary("Subscribe a URL (http or https, at most 2000 characters) to the project's changes: events ⊆ {workflow, job, event}, default all. "
                + "The answer holds the Standard Webhooks signing secret (whsec_…), shown this once only. Project owners, maintainers and admins.");
        project.MapGet("", ListAsync)
            .Allow(AccessPolicy.Operate)
            .Produces<IReadOnlyList<WebhookView>>()
            .WithSummary("The project's outgoing webhooks, without their secrets. Project owners, maintainers and admins.");
        var hooks = routes.MapGroup("/api/v1/webhooks/{id}").WithTags("Webhooks");
        hooks.MapGet("", GetAsync)
            .Allow(AccessPolicy.Operate)
            .Produces<WebhookView>()
            .WithSummary("One outgoing webhook, without its secret.");
        hooks.MapPatch("", UpdateAsync)
            .Allow(AccessPolicy.Operate)
            .Accepts<UpdateWebhookRequest>("application/json")
            .Produces<WebhookView>()
            .WithSummary("Change enabled, events, url or description (an empty description clears it); a field left out stays.");
        hooks.MapDelete("", DeleteAsync)
            .Allow(AccessPolicy.Operate)
            .Produces<ActionResponse>()
            .WithSummary("Remove the webhook and its deliveries.");
        hooks.MapPost("/rotate-secret", RotateAsync)
            .Allow(AccessPolicy.Operate)
            .Produces<WebhookSecretView>()
            .WithSummary("A new signing secret, shown this once; deliveries from now on are signed with it.");
        hooks.MapGet("/deliveries", DeliveriesAsync)
            .Allow(AccessPolicy.Operate)
            .Produces<Page<WebhookDeliveryView>>()
            .WithSummary("The webhook's deliveries, newest first (limit 1–500, default 50; after: the previous page's next): message id, event type, state, status code, answer or error, duration.");
        routes.MapGroup("/api/v1/webhook-deliveries/{id}").WithTags("Webhooks").MapPost("/redeliver", RedeliverAsync)
            .Allow(AccessPolicy.Operate)
            .Produces<ActionResponse>(StatusCodes.Status202Accepted)
            .WithSummary("Send the delivery's body again, under the same webhook-id, with a fresh timestamp and signature (202: queued for the webhook's sender).");
        return routes;
    }

    private static async Task<IResult> CreateAsync(string name, HttpRequest request, ProjectAccess access, AccessStore projects, WebhookSubscriptionStore store, CancellationToken ct)
    {
        if (await access.ProjectAsync(request.HttpContext, name, ProjectNeed.Prioritise) is { } refused)
        {
            return refused;
        }
        var (body, problem) = await ApiJson.ReadAsync<CreateWebhookRequest>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (CheckUrl(body!.Url) is { } badUrl)
        {
            return badUrl;
        }
        var (events, badEvents) = CheckEvents(body.Events ?? WebhookSubscriptionStore.AllEvents);
        if (badEvents is not null)
        {
            return badEvents;
        }
        if (CheckDescription(body.Description) is { } badDescription)
        {
            return badDescription;
        }
        var owner = (await projects.OfProjectAsync(name, ct))!;
        var caller = Caller.Of(request.HttpContext);
        var description = string.IsNullOrEmpty(body.Description) ? null : body.Description;
        if (await store.CreateAsync(owner.ProjectId, owner.ProjectName, body.Url!, events!, description, caller.Actor, caller.User?.UserId, ct) is not { } made)
        {
            return ApiProblems.Conflict("url", $"project '{name}' has {WebhookSubscriptionStore.MaxPerProject} webhooks, the most it may hold; remove one first");
        }
        return TypedResults.Created($"/api/v1/webhooks/{made.Webhook.Id}", made);
    }

    private static async Task<IResult> ListAsync(string name, HttpContext http, ProjectAccess access, AccessStore projects, WebhookSubscriptionStore store, CancellationToken ct)
    {
        if (await access.ProjectAsync(http, name, ProjectNeed.Prioritise) is { } refused)
        {
            return refused;
        }
        return TypedResults.Ok(await store.ListAsync((await projects.OfProjectAsync(name, ct))!.ProjectId, ct));
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, WebhookSubscriptionStore store, CancellationToken ct) =>
        await DecideAsync(http, id, store, ct) is { Refused: { } refused }
            ? refused
            : await store.GetAsync(id, ct) is { } view ? TypedResults.Ok(view) : NotFound(id);

    private static async Task<IResult> UpdateAsync(long id, HttpRequest request, WebhookSubscriptionStore store, CancellationToken ct)
    {
        var (project, refused) = await DecideAsync(request.HttpContext, id, store, ct);
        if (refused is not null)
        {
            return refused;
        }
        var (body, problem) = await ApiJson.ReadAsync<UpdateWebhookRequest>(request, BodyMaxBytes, ct);
        if (problem is not null)
        {
            return problem;
        }
        if (body!.Url is not null && CheckUrl(body.Url) is { } badUrl)
        {
            return badUrl;
        }
        IReadOnlyList<string>? events = null;
        if (body.Events is not null)
        {
            (events, var badEvents) = CheckEvents(body.Events);
            if (badEvents is not null)
            {
                return badEvents;
            }
        }
        if (CheckDescription(body.Description) is { } badDescription)
        {
            return badDescription;
        }
        var description = string.IsNullOrEmpty(body.Description) ? null : body.Description;
        if (!await store.UpdateAsync(id, project!.ProjectName, body.Enabled, events, body.Url, body.Description is not null, description, Caller.Of(request.HttpContext).Actor, ct))
        {
            return NotFound(id);
        }
        return TypedResults.Ok((await store.GetAsync(id, ct))!);
    }

    private static async Task<IResult> DeleteAsync(long id, HttpContext http, WebhookSubscriptionStore store, CancellationToken ct)
    {
        var (project, refused) = await DecideAsync(http, id, store, ct);
        if (refused is not null)
        {
            return refused;
        }
        return await store.DeleteAsync(id, project!.ProjectName, Caller.Of(http).Actor, ct)
            ? TypedResults.Ok(new ActionResponse(1, $"webhook {id} of project '{project.ProjectName}' removed"))
            : NotFound(id);
    }

    private static async Task<IResult> RotateAsync(long id, HttpContext http, WebhookSubscriptionStore store, CancellationToken ct)
    {
        var (project, refused) = await DecideAsync(http, id, store, ct);
        if (refused is not null)
        {
            return refused;
        }
        if (await store.RotateAsync(id, project!.ProjectId, project.ProjectName, Caller.Of(http).Actor, ct) is not { } secret)
        {
            return NotFound(id);
        }
        return TypedResults.Ok(new WebhookSecretView((await store.GetAsync(id, ct))!, secret));
    }

    private static async Task<IResult> DeliveriesAsync(long id, HttpContext http, string? limit, string? after, WebhookSubscriptionStore store, CancellationToken ct)
    {
        if (await DecideAsync(http, id, store, ct) is { Refused: { } refused })
        {
            return refused;
        }
        var (n, cursor, problem) = ListQuery.Parse(limit, after);
        if (problem is not null)
        {
            return problem;
        }
        return TypedResults.Ok(await store.DeliveriesAsync(id, cursor, n, ct));
    }

    private static async Task<IResult> RedeliverAsync(long id, HttpContext http, WebhookSubscriptionStore store, CancellationToken ct)
    {
        var owner = await store.DeliveryOwnerAsync(id, ct);
        if (ProjectAccess.Decide(Caller.Of(http), owner?.Project, ProjectNeed.Prioritise, $"webhook delivery {id} does not exist") is { } refused)
        {
            return refused;
        }
        if (!await store.RedeliverAsync(id, owner!.Value.Project.ProjectName, Caller.Of(http).Actor, ct))
        {
            return ApiProblems.Conflict($"webhook delivery {id} has no stored body to send again");
        }
        return TypedResults.Accepted((string?)null, new ActionResponse(1, $"delivery {id} of webhook {owner.Value.SubscriptionId} queued to be sent again"));
    }

    private static async Task<(ProjectOfResource? Project, IResult? Refused)> DecideAsync(HttpContext http, long id, WebhookSubscriptionStore store, CancellationToken ct)
    {
        var project = await store.OwnerAsync(id, ct);
        return (project, ProjectAccess.Decide(Caller.Of(http), project, ProjectNeed.Prioritise, $"webhook {id} does not exist"));
    }

    private static IResult? CheckUrl(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
        {
            return ApiProblems.Invalid("url", "is required: where Kiln POSTs its deliveries");
        }
        if (url.Length > MaxUrl)
        {
            return ApiProblems.Invalid("url", $"must be at most {MaxUrl} characters");
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0
            || url.Any(char.IsControl))
        {
            return ApiProblems.Invalid("url", "must be an absolute http or https URL");
        }
        return null;
    }

    private static (IReadOnlyList<string>? Events, IResult? Problem) CheckEvents(IReadOnlyList<string> events)
    {
        if (events.Count == 0 || events.Count > 10)
        {
            return (null, ApiProblems.Invalid("events", "must name one to three of workflow, job, event"));
        }
        foreach (var e in events)
        {
            if (e is null || !WebhookSubscriptionStore.AllEvents.Contains(e))
            {
                return (null, ApiProblems.Invalid("events", $"'{Clip(e)}' is not one of workflow, job, event"));
            }
        }
        return ([.. events.Distinct()], null);
    }

    private static IResult? CheckDescription(string? description) =>
        description is { Length: > MaxDescription } || (description?.Any(char.IsControl) ?? false)
            ? ApiProblems.Invalid("description", $"must be at most {MaxDescription} characters, without control characters")
            : null;

    private static string Clip(string? text) => text is null ? "" : text.Length > 40 ? text[..40] + "…" : text;

    private static IResult NotFound(long id) => ApiProblems.NotFound($"webhook {id} does not exist");
}
