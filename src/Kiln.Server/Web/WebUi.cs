using System.Globalization;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Core.Security;
using Kiln.Server.Security;
using Kiln.Server.Web.Pages;
using Kiln.Store.Artifacts;
using Kiln.Store.Engine;
using Kiln.Store.Events;
using Kiln.Store.Identity;
using Kiln.Store.Logs;
using Kiln.Store.Notices;
using Kiln.Store.Outbox;
using Kiln.Store.Scheduling;
using Kiln.Store.Status;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Server.Web;

/// <summary>
/// The web interface (docs/ui.md): server-rendered pages under <c>/ui</c> (Razor components,
/// rendered statically), a stylesheet and a script served from the assembly, and two kinds of
/// server-sent events — a page's version (the workflow or job page reloads its content when it
/// changes) and a log's new bytes. Pages read through the same stores and access checks as the
/// API; the browser's caller comes from its session cookie (<see cref="WebSession"/>).
/// </summary>
public static class WebUi
{
    /// <summary>How much of a log the job page loads at first, and per "earlier" step.</summary>
    public const int LogWindowBytes = 256 * 1024;

    /// <summary>Rows per page of the workflows list; the count above it stops at <see cref="CountCap"/>.</summary>
    public const int PageSize = 50;

    public const int CountCap = 10_000;

    public static IEndpointRouteBuilder MapWebUi(this IEndpointRouteBuilder routes, OidcOptions? oidc = null)
    {
        var ui = routes.MapGroup("/ui").ExcludeFromDescription().Allow(AccessPolicy.Public);
        ui.MapGet("/", DashboardAsync);
        ui.MapGet("/workflows", WorkflowsAsync);
        ui.MapGet("/workflows/{id:long}", WorkflowAsync);
        ui.MapGet("/workflows/{id:long}/live", (long id, HttpContext http, WebQueries q, ProjectAccess access) =>
            LiveAsync(http, () => access.WorkflowAsync(http, id, ProjectNeed.Read), ct => q.WorkflowVersionAsync(id, ct)));
        ui.MapPost("/workflows/{id:long}/cancel", (long id, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct) => WorkflowActionAsync(id, "cancel", http, actions, access, ct));
        ui.MapPost("/workflows/{id:long}/retry", (long id, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct) => WorkflowActionAsync(id, "retry", http, actions, access, ct));
        ui.MapPost("/workflows/{id:long}/approve", (long id, HttpContext http, [AsParameters] Api.HeldApi.Services s, CancellationToken ct) => HeldActionAsync(id, approve: true, http, s, ct));
        ui.MapPost("/workflows/{id:long}/discard", (long id, HttpContext http, [AsParameters] Api.HeldApi.Services s, CancellationToken ct) => HeldActionAsync(id, approve: false, http, s, ct));
        ui.MapGet("/work-requests/{id:long}", JobAsync);
        ui.MapGet("/work-requests/{id:long}/live", (long id, HttpContext http, WebQueries q, ProjectAccess access) =>
            LiveAsync(http, () => access.WorkRequestAsync(http, id, ProjectNeed.Read), ct => q.WorkRequestVersionAsync(id, ct)));
        ui.MapPost("/work-requests/{id:long}/cancel", (long id, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct) => JobActionAsync(id, "cancel", http, actions, access, ct));
        ui.MapPost("/work-requests/{id:long}/retry", (long id, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct) => JobActionAsync(id, "retry", http, actions, access, ct));
        ui.MapGet("/work-requests/{id:long}/log/range", WebLogs.RangeAsync);
        ui.MapGet("/work-requests/{id:long}/log/stream", WebLogs.StreamAsync);
        ui.MapGet("/work-requests/{id:long}/log/raw", WebLogs.RawAsync);
        // Artifacts download as attachments (application/octet-stream), never rendered in the page's origin.
        ui.MapGet("/work-requests/{id:long}/artifacts/{*path}", Api.ArtifactsApi.DownloadAsync);
        ui.MapGet("/projects", ProjectsAsync);
        ui.MapGet("/projects/{name}", ProjectAsync);
        ui.MapGet("/events", EventsAsync);
        ui.MapGet("/events/{id:long}", EventAsync);
        ui.MapGet("/workers", WorkersAsync);
        ui.MapGet("/admin", AdminAsync);
        foreach (var action in new[] { "approve", "disable", "enable" })
        {
            ui.MapPost($"/workers/{{name}}/{action}", (string name, HttpContext http, Store.Workers.WorkerStore workers, ReportStore reports, Store.Identity.AuditStore audit, CancellationToken ct) =>
                WorkerActionAsync(name, action, http, workers, reports, audit, ct));
        }
        ui.MapGet("/sign-in", (HttpContext http, string? returnUrl) => Page<SignInPage>(new SignInModel(ViewerOf(http, "sign-in"), null, LocalOrNull(returnUrl)) { Oidc = oidc?.DisplayName }));
        if (oidc is not null)
        {
            OidcSignIn.Map(ui, oidc);
        }
        ui.MapPost("/sign-in", SignInAsync);
        ui.MapPost("/sign-out", SignOutAsync);
        ui.MapGet("/static/{file}", WebAssets.Serve);
        return routes;
    }

    /// <summary><c>/</c>: a browser goes to the dashboard, anything else to the OpenAPI document.</summary>
    public static IResult Root(HttpContext http) =>
        Results.Redirect(http.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase) ? "/ui/" : "/openapi/v1.json");

    internal static Viewer ViewerOf(HttpContext http, string section)
    {
        var caller = Caller.Of(http);
        return new Viewer(caller.User?.Name, caller.IsAdmin, WebSession.FormToken(http), section, http.Request.Path + http.Request.QueryString,
            http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow());
    }

    internal static RazorComponentResult Page<TPage>(object model, int status = StatusCodes.Status200OK) where TPage : IComponent =>
        new RazorComponentResult<TPage>(new Dictionary<string, object?> { ["Model"] = model }) { StatusCode = status };

    internal static IResult Message(HttpContext http, int status, string title, string text) =>
        Page<MessagePage>(new MessageModel(ViewerOf(http, ""), title, text), status);

    private static async Task<IResult> DashboardAsync(
        HttpContext http, StatusStore status, QueryStore queries, WebQueries web, HeldStore held, NoticeStore notices, ProjectAccess access, CancellationToken ct)
    {
        var hidden = await access.HiddenProjectsAsync(http);
        var failures = await queries.ListWorkflowsAsync(null, WorkflowState.Failed, null, 10, ct, hidden);
        var running = await queries.ListWorkflowsAsync(null, WorkflowState.Running, null, 10, ct, hidden);
        var heldPage = await held.ListAsync(new HeldFilter(Hidden: hidden), 0, 10, ct);
        return Page<DashboardPage>(new DashboardModel(
            ViewerOf(http, "dashboard"), await status.QueuesAsync(ct), await status.WorkersAsync(ct), running.Items, failures.Items, heldPage.Items,
            [.. (await notices.ActiveAsync(ct)).Select(n => $"{n.Severity}: {n.Text}")], await web.RunningByProjectAsync(hidden, 10, ct)));
    }

    private static async Task<IResult> WorkflowsAsync(
        HttpContext http, QueryStore queries, WebQueries web, ProjectAccess access, string? project, string? state, string? trigger, string? submitter,
        string? branch, string? since, string? until, string? after, CancellationToken ct)
    {
        static string? Given(string? v) => string.IsNullOrWhiteSpace(v) ? null : v.Trim();
        var search = new WorkflowSearch(Given(project), Given(state), Given(trigger), Given(submitter), Given(branch));
        if (search.State is { } s && !WorkflowState.All.Contains(s))
        {
            return Message(http, StatusCodes.Status400BadRequest, "No such state", $"'{s}' is not a workflow state; use one of {string.Join(", ", WorkflowState.All)}.");
        }
        if (new[] { search.Project, search.Trigger, search.Submitter, search.Branch }.Any(v => v is { Length: > 200 }))
        {
            return Message(http, StatusCodes.Status400BadRequest, "Filter too long", "A project, trigger, submitter or branch filter takes at most 200 characters.");
        }
        DateTimeOffset? Day(string? text, string name, out string? problem)
        {
            problem = null;
            if (Given(text) is not { } t)
            {
                return null;
            }
            if (DateTimeOffset.TryParseExact(t, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var day))
            {
                return day;
            }
            problem = $"'{name}' must be a day like 2026-12-01, not '{t}'.";
            return null;
        }
        var from = Day(since, "since", out var sinceProblem);
        var to = Day(until, "until", out var untilProblem);
        if ((sinceProblem ?? untilProblem) is { } bad)
        {
            return Message(http, StatusCodes.Status400BadRequest, "Bad day", bad);
        }
        // "until 2026-12-01" includes that day.
        search = search with { Since = from, Until = to?.AddDays(1) };
        var (cursor, ok) = Cursor(after);
        if (!ok)
        {
            return Message(http, StatusCodes.Status400BadRequest, "Bad page", "'after' must be a workflow id from a 'next' link.");
        }
        var viewer = ViewerOf(http, "workflows");
        if (search.Project is { } p && (p.Length > 64 || await access.ProjectAsync(http, p, ProjectNeed.Read) is not null))
        {
            return Page<WorkflowsPage>(new WorkflowsModel(viewer, search, [], null, after, "0"));
        }
        var hidden = await access.HiddenProjectsAsync(http);
        if (search.Extended)
        {
            var found = await queries.SearchWorkflowsAsync(search, cursor, PageSize, ct, hidden);
            var counted = cursor is null ? Count(await queries.CountWorkflowsAsync(search, CountCap, ct, hidden)) : "";
            return Page<WorkflowsPage>(new WorkflowsModel(viewer, search, found.Items, found.Next, after, counted));
        }
        var page = await queries.ListWorkflowsAsync(search.Project, search.State, cursor, PageSize, ct, hidden);
        var shown = cursor is null ? Count(await web.CountWorkflowsAsync(search.Project, search.State, hidden, CountCap, ct)) : "";
        return Page<WorkflowsPage>(new WorkflowsModel(viewer, search, page.Items, page.Next, after, shown));
    }

    /// <summary>"1,234", or "10,000+" past the cap.</summary>
    internal static string Count(int n) => n > CountCap ? CountCap.ToString("N0", CultureInfo.InvariantCulture) + "+" : n.ToString("N0", CultureInfo.InvariantCulture);

    private static async Task<IResult> WorkflowAsync(
        long id, HttpContext http, QueryStore queries, WebQueries web, OutboxQueries outbox, Store.Results.ResultStore results, ProjectAccess access,
        string? message, string? jobs, CancellationToken ct)
    {
        if (await access.WorkflowAsync(http, id, ProjectNeed.Read) is not null || await queries.GetWorkflowAsync(id, ct) is not { } workflow)
        {
            return Message(http, StatusCodes.Status404NotFound, "Not found", $"Workflow {id} does not exist, or you may not see it. Sign in to see private projects.");
        }
        workflow = workflow with { Regressions = await results.RegressionsOfWorkflowAsync(id, ct) };
        var (submitter, trigger) = await web.OriginAsync(id, ct);
        var needs = await web.NeedsAsync(id, ct);
        var signedIn = !Caller.Of(http).IsAnonymous;
        var canAct = signedIn && await access.WorkflowAsync(http, id, ProjectNeed.CancelOrRetry) is null;
        var canApprove = signedIn && workflow.State == WorkflowState.Held && await access.WorkflowAsync(http, id, ProjectNeed.Own) is null;
        return Page<WorkflowPage>(new WorkflowModel(
            ViewerOf(http, "workflows"), workflow, submitter, trigger, WorkflowGraph.Layers(workflow.Jobs ?? [], needs),
            await outbox.OfWorkflowAsync(id, ct), canAct, Short(message), await web.WorkflowVersionAsync(id, ct) ?? "") { CanApprove = canApprove, ShowAllJobs = jobs == "all" });
    }

    private static async Task<IResult> JobAsync(
        long id, int? attempt, HttpContext http, QueryStore queries, WebQueries web, ArtifactStore artifacts, ExplainStore explain, Store.Results.ResultStore results,
        ProjectAccess access, string? message, CancellationToken ct)
    {
        if (await access.WorkRequestAsync(http, id, ProjectNeed.Read) is not null || await queries.GetWorkRequestAsync(id, ct) is not { } job)
        {
            return Message(http, StatusCodes.Status404NotFound, "Not found", $"Work request {id} does not exist, or you may not see it. Sign in to see private projects.");
        }
        job = job with { Result = await results.GetAsync(id, attempt is >= 1 ? attempt : null, ct) };
        var shown = attempt is { } a && a >= 1 && a <= job.Summary.Attempt ? a : job.Summary.Attempt;
        var workflow = await queries.GetWorkflowAsync(job.Summary.WorkflowId, ct);
        string? why = null;
        if (job.Summary.State is WorkRequestState.Pending or WorkRequestState.Blocked && await explain.ExplainAsync(id, ct) is { } e)
        {
            why = string.Join(" ", [e.Summary, .. e.Reasons.Select(r => r.Message)]);
        }
        var canAct = !Caller.Of(http).IsAnonymous && await access.WorkRequestAsync(http, id, ProjectNeed.CancelOrRetry) is null;
        return Page<JobPage>(new JobModel(
            ViewerOf(http, "workflows"), job, workflow?.Name ?? "", shown, shown > 0 ? await artifacts.ListAsync(id, shown, 500, ct) : [], why, canAct, Short(message),
            await web.WorkRequestVersionAsync(id, ct) ?? ""));
    }

    private static string? Short(string? message) => message is { Length: > 0 and <= 300 } ? message : null;

    private static async Task<IResult> WorkflowActionAsync(long id, string action, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct)
    {
        if (await ExpiredFormAsync(http) is { } expired)
        {
            return expired;
        }
        if (await access.WorkflowAsync(http, id, ProjectNeed.CancelOrRetry) is not null)
        {
            return Message(http, StatusCodes.Status403Forbidden, "Not allowed", $"You may not {action} workflow {id}: that takes a maintainer of its project, or the contributor who submitted it.");
        }
        var result = action == "cancel" ? await actions.CancelWorkflowAsync(id, ct) : await actions.RetryWorkflowAsync(id, ct);
        return Results.Redirect($"/ui/workflows/{id}?message={Uri.EscapeDataString(result.Response.Message)}", permanent: false, preserveMethod: false);
    }

    private static async Task<IResult> JobActionAsync(long id, string action, HttpContext http, GraphActions actions, ProjectAccess access, CancellationToken ct)
    {
        if (await ExpiredFormAsync(http) is { } expired)
        {
            return expired;
        }
        if (await access.WorkRequestAsync(http, id, ProjectNeed.CancelOrRetry) is not null)
        {
            return Message(http, StatusCodes.Status403Forbidden, "Not allowed", $"You may not {action} work request {id}: that takes a maintainer of its project, or the contributor who submitted it.");
        }
        var result = action == "cancel" ? await actions.CancelWorkRequestAsync(id, ct) : await actions.RetryWorkRequestAsync(id, ct);
        return Results.Redirect($"/ui/work-requests/{id}?message={Uri.EscapeDataString(result.Response.Message)}");
    }

    private static async Task<IResult> HeldActionAsync(long id, bool approve, HttpContext http, Api.HeldApi.Services s, CancellationToken ct)
    {
        if (await ExpiredFormAsync(http) is { } expired)
        {
            return expired;
        }
        var (refusal, done) = await Api.HeldApi.ApplyAsync(http, s, new HeldSelection { Ids = [id] }, approve, ct);
        if (refusal is not null)
        {
            return Message(http, StatusCodes.Status409Conflict, "Not done",
                $"Workflow {id} is not held any more, or you may not {(approve ? "approve" : "discard")} it: that takes an owner of its project or an admin.");
        }
        return Results.Redirect($"/ui/workflows/{id}?message={Uri.EscapeDataString(done!.Message)}");
    }

    private static async Task<IResult> ProjectsAsync(HttpContext http, ProjectStore projects, ProjectAccess access, string? after, CancellationToken ct)
    {
        var (cursor, ok) = Cursor(after);
        if (!ok)
        {
            return Message(http, StatusCodes.Status400BadRequest, "Bad page", "'after' must come from a 'Next page' link.");
        }
        var page = await projects.ListAsync(cursor, PageSize, ct, await access.HiddenProjectsAsync(http));
        return Page<ProjectsPage>(new ProjectsModel(ViewerOf(http, "projects"), page.Items, page.Next));
    }

    private static async Task<IResult> ProjectAsync(
        string name, HttpContext http, ProjectStore projects, QueryStore queries, HeldStore held, Store.Workers.PoolStore pools, ProjectAccess access,
        ProjectOwnerStore owners, Store.Repositories.RepositoryStore repositories, CancellationToken ct)
    {
        if (name.Length > 64 || await access.ProjectAsync(http, name, ProjectNeed.Read) is not null || await projects.GetAsync(name, ct) is not { } project)
        {
            return Message(http, StatusCodes.Status404NotFound, "Not found", $"Project '{name}' does not exist, or you may not see it. Sign in to see private projects.");
        }
        project = project with { TrustedPools = await pools.TrustedPoolsAsync(project.Id, ct) };
        var recent = await queries.ListWorkflowsAsync(name, null, null, 20, ct);
        var heldPage = await held.ListAsync(new HeldFilter(name), 0, 20, ct);
        var server = Repositories.RepositoryLinks.Server(http.Request);
        var repos = (await repositories.ListAsync(project.Id, ct)).Select(r => Repositories.RepositoryLinks.View(server, project.Name, r)).ToList();
        return Page<ProjectPage>(new ProjectModel(ViewerOf(http, "projects"), project, recent.Items, heldPage.Items, await owners.MembersAsync(project.Id, ct), repos));
    }

    private static async Task<IResult> AdminAsync(
        HttpContext http, AuditStore audit, NoticeStore notices, TokenStore tokens, Hosting.KilnServerOptions options, string? after, CancellationToken ct)
    {
        var caller = Caller.Of(http);
        if (caller.IsAnonymous)
        {
            return Results.Redirect("/ui/sign-in?returnUrl=" + Uri.EscapeDataString(http.Request.Path));
        }
        if (!caller.IsAdmin)
        {
            return Message(http, StatusCodes.Status403Forbidden, "Admins only", $"The admin page is for farm admins, and '{caller.Name}' is not one.");
        }
        var (cursor, ok) = Cursor(after);
        if (!ok)
        {
            return Message(http, StatusCodes.Status400BadRequest, "Bad page", "'after' must come from a 'Next page' link.");
        }
        var entries = await audit.ListAsync(null, null, null, cursor, PageSize, ct);
        var own = await tokens.ListAsync(caller.User!.UserId, null, 100, ct);
        (string, string)[] policy =
        [
            ("Requests a minute per API token", Limit(options.RateLimitPerMinute)),
            ("Requests a minute per anonymous address", Limit(options.AnonymousRateLimitPerMinute)),
            ("Requests a minute per worker", Limit(options.WorkerRateLimitPerMinute)),
            ("Storm guard of a source", $"{options.EventSourceBurstLimit} workflows in {Pages.Fmt.Seconds(options.EventSourceBurstWindow.TotalSeconds)}"),
            ("Lease / heartbeat", $"{options.Lease.TotalSeconds:0} s / {options.Heartbeat.TotalSeconds:0} s"),
            ("Largest artifact / log", $"{Pages.Fmt.Size(options.MaxArtifactBytes)} / {Pages.Fmt.Size(options.MaxLogBytes)}"),
            ("Status writes: spacing / timeout", $"{options.StatusSpacing.TotalMilliseconds:0} ms / {options.StatusTimeout.TotalSeconds:0} s"),
            ("Browser sign-in", options.Oidc is { } o ? $"API tokens, and {o.DisplayName} ({o.Authority})" : "API tokens"),
        ];
        return Page<AdminPage>(new AdminModel(ViewerOf(http, "admin"), entries.Items, entries.Next, await notices.ActiveAsync(ct), await notices.UpcomingAsync(ct), own.Items, policy));
    }

    private static string Limit(int perMinute) => perMinute == 0 ? "unlimited" : perMinute.ToString("N0", CultureInfo.InvariantCulture);

    private static async Task<IResult> EventsAsync(
        HttpContext http, EventQueries events, ProjectAccess access, string? source, string? state, string? after, CancellationToken ct)
    {
        var caller = Caller.Of(http);
        if (caller.IsAnonymous)
        {
            return Results.Redirect("/ui/sign-in?returnUrl=" + Uri.EscapeDataString(http.Request.Path + http.Request.QueryString));
        }
        source = string.IsNullOrEmpty(source) ? null : source;
        state = string.IsNullOrEmpty(state) ? null : state;
        var (cursor, ok) = Cursor(after);
        if ((source is not null && !EventSources.All.Contains(source)) || (state is not null && !EventStates.All.Contains(state)) || !ok)
        {
            return Message(http, StatusCodes.Status400BadRequest, "Bad filter",
                $"Use a source of {string.Join(", ", EventSources.All)}, a state of {string.Join(", ", EventStates.All)}, and 'after' from a 'Next page' link.");
        }
        var page = await events.ListAsync(source, state, null, cursor, PageSize, caller.IsAdmin, await access.HiddenProjectsAsync(http) ?? [], ct);
        return Page<EventsPage>(new EventsModel(ViewerOf(http, "events"), source, state, page.Items, page.Next));
    }

    private static async Task<IResult> EventAsync(long id, HttpContext http, EventQueries events, ProjectAccess access, CancellationToken ct)
    {
        var caller = Caller.Of(http);
        if (caller.IsAnonymous)
        {
            return Results.Redirect("/ui/sign-in?returnUrl=" + Uri.EscapeDataString(http.Request.Path));
        }
        return await events.GetAsync(id, caller.IsAdmin, await access.HiddenProjectsAsync(http) ?? [], ct) is { } view
            ? Page<EventPage>(new EventModel(ViewerOf(http, "events"), view))
            : Message(http, StatusCodes.Status404NotFound, "Not found", $"Event {id} does not exist, or it concerns no project you may see.");
    }

    private static async Task<IResult> WorkersAsync(HttpContext http, Store.Workers.WorkerStore workers, string? after, string? message, CancellationToken ct)
    {
        var (cursor, ok) = Cursor(after);
        if (!ok)
        {
            return Message(http, StatusCodes.Status400BadRequest, "Bad page", "'after' must come from a 'Next page' link.");
        }
        var page = await workers.ListAsync(cursor, PageSize, ct);
        return Page<WorkersPage>(new WorkersModel(ViewerOf(http, "workers"), page.Items, page.Next, Caller.Of(http).IsAdmin, Short(message)));
    }

    private static async Task<IResult> WorkerActionAsync(
        string name, string action, HttpContext http, Store.Workers.WorkerStore workers, ReportStore reports, Store.Identity.AuditStore audit, CancellationToken ct)
    {
        if (await ExpiredFormAsync(http) is { } expired)
        {
            return expired;
        }
        if (!Caller.Of(http).IsAdmin)
        {
            return Message(http, StatusCodes.Status403Forbidden, "Not allowed", $"Only a farm admin may {action} a worker.");
        }
        var result = action switch
        {
            "disable" => await Api.WorkerOperatorEndpoints.DisableAsync(name, http, workers, reports, audit, ct),
            "enable" => await Api.WorkerOperatorEndpoints.EnableAsync(name, http, workers, audit, ct),
            _ => await Api.WorkerOperatorEndpoints.ApproveAsync(name, http, workers, audit, ct),
        };
        return result is Ok<ActionResponse> done
            ? Results.Redirect("/ui/workers?message=" + Uri.EscapeDataString(done.Value!.Message))
            : Message(http, StatusCodes.Status404NotFound, "Not found", $"There is no worker '{name}'.");
    }

    /// <summary>The answer to a posted form without a valid anti-forgery token (sent from elsewhere, or from a page too old); null when it is valid.</summary>
    private static async Task<IResult?> ExpiredFormAsync(HttpContext http) => await WebSession.ValidAsync(http) ? null
        : Message(http, StatusCodes.Status400BadRequest, "Form expired", "The form was not sent from this page (or it expired). Go back, reload the page and try again.");

    /// <summary>A list's cursor: (null, true) without one, (id, true) for a number, (null, false) for anything else.</summary>
    private static (long? Cursor, bool Ok) Cursor(string? after) =>
        after is null ? (null, true)
        : long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? (c, true) : (null, false);

    private static async Task<IResult> SignInAsync(HttpContext http, IdentityStore identity, TokenStore tokens, CancellationToken ct)
    {
        if (!http.Request.HasFormContentType || !await WebSession.ValidAsync(http))
        {
            return Message(http, StatusCodes.Status400BadRequest, "Form expired", "The sign-in form was not sent from this page (or it expired). Reload it and try again.");
        }
        var form = await http.Request.ReadFormAsync(ct);
        var token = form["token"].ToString().Trim();
        var returnUrl = LocalOrNull(form["returnUrl"].ToString());
        string? error = null;
        AuthenticatedUser? user = null;
        if (token.Length == 0)
        {
            error = "Paste an API token: 'kiln token create --comment browser' makes one.";
        }
        else if (token.Length > 512 || TokenFormat.KindOf(token) != TokenKind.Api)
        {
            error = "That is not an API token (they start with kiln_pat_). Make one with 'kiln token create'.";
        }
        else
        {
            (user, var why) = await identity.AuthenticateAsync(token, ct);
            if (user is null)
            {
                error = why switch
                {
                    TokenRefusal.Revoked => "This token was revoked. Make a new one with 'kiln token create'.",
                    TokenRefusal.Expired => "This token has expired. Make a new one with 'kiln token create'.",
                    TokenRefusal.UserDisabled => "This token's user is disabled; ask a farm admin.",
                    _ => "Unknown token. Check that you pasted all of it, or make a new one with 'kiln token create'.",
                };
            }
        }
        if (user is null)
        {
            return Page<SignInPage>(new SignInModel(ViewerOf(http, "sign-in"), error, returnUrl)
            {
                Oidc = http.RequestServices.GetRequiredService<Hosting.KilnServerOptions>().Oidc?.DisplayName,
            }, StatusCodes.Status400BadRequest);
        }
        var caller = Caller.Of(http) with { User = user };
        var now = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
        var session = await tokens.CreateAsync(user.UserId, "web interface sign-in", user.Scopes, now + WebSession.Lifetime, caller.Actor, ct);
        WebSession.Set(http, session.Token, now);
        return Results.Redirect(returnUrl ?? "/ui/");
    }

    private static async Task<IResult> SignOutAsync(HttpContext http, TokenStore tokens, CancellationToken ct)
    {
        if (await ExpiredFormAsync(http) is { } expired)
        {
            return expired;
        }
        var caller = Caller.Of(http);
        if (caller.User is { } user)
        {
            await tokens.RevokeAsync(user.TokenId, user.UserId, caller.Actor, ct);
        }
        WebSession.Clear(http);
        return Results.Redirect("/ui/");
    }

    /// <summary>A path on this server (no scheme, no host, no "//"), else null: sign-in never sends a browser elsewhere.</summary>
    internal static string? LocalOrNull(string? url) =>
        url is { Length: > 0 and < 2048 } && url.StartsWith("/ui", StringComparison.Ordinal) && !url.StartsWith("//", StringComparison.Ordinal) && !url.Contains('\\', StringComparison.Ordinal)
            ? url : null;

    /// <summary>
    /// Server-sent events carrying a page's version: one at once, then one each time it changes
    /// (checked every second), until the client goes away. The page's script reloads its content
    /// on a change; a final state ends the stream with an <c>end</c> event.
    /// </summary>
    private static async Task LiveAsync(HttpContext http, Func<Task<IResult?>> check, Func<CancellationToken, Task<string?>> version)
    {
        if (await check() is not null)
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        var ct = http.RequestAborted;
        StartEvents(http);
        string? last = null;
        try
        {
            for (var i = 0; i < 3600 && !ct.IsCancellationRequested; i++)
            {
                var now = await version(ct);
                if (now != last)
                {
                    await SendAsync(http, "version", now ?? "", ct);
                    last = now;
                }
                if (now is null || IsFinal(now))
                {
                    await SendAsync(http, "end", now ?? "", ct);
                    return;
                }
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static bool IsFinal(string version) =>
        version.Split(':')[0] is WorkflowState.Succeeded or WorkflowState.Failed or WorkflowState.Cancelled or WorkRequestState.Skipped;

    internal static void StartEvents(HttpContext http)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
    }

    /// <summary>One event; <paramref name="data"/> is sent JSON-encoded, so it is one line whatever it holds.</summary>
    internal static async Task SendAsync(HttpContext http, string name, string data, CancellationToken ct)
    {
        var text = $"event: {name}\ndata: {JsonSerializer.Serialize(data)}\n\n";
        await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
        await http.Response.Body.FlushAsync(ct);
    }
}
