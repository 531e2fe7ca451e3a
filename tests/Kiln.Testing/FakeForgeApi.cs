using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Kiln.Testing;

/// <summary>
/// The API side of <see cref="FakeForge"/>, as the real forges answer it:
/// GitHub <c>GET /repos/O/R/hooks/H/deliveries</c> (newest first, cursor paging with a Link header),
/// <c>GET …/deliveries/D</c>, <c>POST …/deliveries/D/attempts</c> (202, then the redelivery),
/// <c>GET /repos/O/R/branches|tags</c>; GitLab <c>GET /api/v4/projects/ID-or-PATH/repository/branches|tags</c>
/// (X-Next-Page); Forgejo <c>GET /api/v1/repos/O/R/branches|tags</c> (page, limit).
/// </summary>
internal sealed partial class FakeForgeApi(FakeForge forge)
{
    public async Task HandleAsync(HttpContext http)
    {
        var request = http.Request;
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        // The body is read once here (for the log); routes and Intercept read this copy.
        request.Body = new MemoryStream(buffer.ToArray(), writable: false);
        http.Items[BodyKey] = buffer.ToArray();
        if (forge.Intercept is { } intercept && await intercept(http))
        {
            Log(http, buffer.ToArray());
            return;
        }
        var raw = http.Features.Get<IHttpRequestFeature>()!.RawTarget;
        var path = raw.Split('?')[0];
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
        if (!Authorized(request))
        {
            await JsonAsync(http, 401, new JsonObject { ["message"] = "Bad credentials" });
        }
        else
        {
            await RouteAsync(http, segments);
        }
        Log(http, buffer.ToArray());
    }

    private void Log(HttpContext http, byte[] body) => forge.Log(new ForgeRequest(
        http.Request.Method, http.Features.Get<IHttpRequestFeature>()!.RawTarget,
        http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase), body, forge.Time.GetUtcNow(), http.Response.StatusCode));

    private bool Authorized(HttpRequest request)
    {
        if (forge.ApiToken is not { } token)
        {
            return true;
        }
        var authorization = request.Headers.Authorization.ToString();
        // App installation tokens are minted with a JWT the route itself verifies, then accepted like the API token
        if (request.Path.StartsWithSegments("/app/installations", StringComparison.Ordinal) || forge.IsInstallationToken(authorization))
        {
            return true;
        }
        return authorization == $"Bearer {token}" || authorization == $"token {token}" || request.Headers["PRIVATE-TOKEN"].ToString() == token;
    }

    private async Task RouteAsync(HttpContext http, string[] s)
    {
        var get = HttpMethods.IsGet(http.Request.Method);
        switch (s)
        {
            case ["repos", var owner, var name, "hooks", var hook, "deliveries"] when get:
                await DeliveriesAsync(http, Find("github", $"{owner}/{name}"), hook);
                return;
            case ["repos", var owner, var name, "hooks", var hook, "deliveries", var delivery] when get:
                await DeliveryAsync(http, Find("github", $"{owner}/{name}"), hook!, delivery!, redeliver: false);
                return;
            case ["repos", var owner, var name, "hooks", var hook, "deliveries", var attempt, "attempts"] when HttpMethods.IsPost(http.Request.Method):
                await DeliveryAsync(http, Find("github", $"{owner}/{name}"), hook!, attempt!, redeliver: true);
                return;
            case ["repos", var owner, var name, var what and ("branches" or "tags")] when get:
                await RefsAsync(http, Find("github", $"{owner}/{name}"), what, "per_page", r => new JsonObject { ["sha"] = r, ["url"] = "" });
                return;
            case ["api", "v1", "repos", var owner, var name, var what and ("branches" or "tags")] when get:
                await RefsAsync(http, Find("forgejo", $"{owner}/{name}"), what, "limit",
                    r => what == "tags" ? new JsonObject { ["sha"] = r, ["url"] = "" } : new JsonObject { ["id"] = r, ["message"] = "change" });
                return;
            case ["api", "v4", "projects", var project, "repository", var what and ("branches" or "tags")] when get:
                var repo = long.TryParse(project, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                    ? forge.Repositories.FirstOrDefault(r => r.Kind == "gitlab" && r.Id == id)
                    : Find("gitlab", project);
                await RefsAsync(http, repo, what, "per_page", r => new JsonObject { ["id"] = r, ["short_id"] = r[..8] });
                return;
            default:
                // Status writes (issue 14): GitHub check runs and commit statuses, GitLab and Forgejo commit statuses.
                if (await GitHubStatusRouteAsync(http, s) || await CommitStatusRouteAsync(http, s))
                {
                    return;
                }
                await JsonAsync(http, 404, new JsonObject { ["message"] = "Not Found" });
                return;
        }
    }

    private FakeRepository? Find(string kind, string fullName) =>
        forge.Repositories.FirstOrDefault(r => r.Kind == kind && r.FullName.Equals(fullName, StringComparison.OrdinalIgnoreCase));

    private async Task DeliveriesAsync(HttpContext http, FakeRepository? repo, string hookId)
    {
        var hook = repo?.Hooks.FirstOrDefault(h => h.Id.ToString(CultureInfo.InvariantCulture) == hookId);
        if (hook is null)
        {
            await JsonAsync(http, 404, new JsonObject { ["message"] = "Not Found" });
            return;
        }
        var size = PageSize(http.Request, "per_page");
        var all = forge.Deliveries.Where(d => d.Hook == hook).OrderByDescending(d => d.Id).ToList();
        // The cursor is the id of the last delivery of the previous page.
        if (long.TryParse(http.Request.Query["cursor"], NumberStyles.None, CultureInfo.InvariantCulture, out var cursor))
        {
            all = [.. all.Where(d => d.Id < cursor)];
        }
        var page = all.Take(size).ToList();
        if (all.Count > size)
        {
            var next = $"{forge.Url}{http.Request.Path}?per_page={size}&cursor={page[^1].Id}";
            http.Response.Headers.Link = $"<{next}>; rel=\"next\"";
        }
        await JsonAsync(http, 200, new JsonArray([.. page.Select(Summary)]));
    }

    private static JsonObject Summary(FakeDelivery d) => new()
    {
        ["id"] = d.Id,
        ["guid"] = d.Guid,
        ["delivered_at"] = d.DeliveredAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        ["redelivery"] = d.Redelivery,
        ["duration"] = 0.01,
        ["status"] = d.Succeeded ? "OK" : d.StatusCode == 0 ? "failed to connect to host" : "Invalid HTTP Response: " + d.StatusCode,
        ["status_code"] = d.StatusCode,
        ["event"] = d.Event,
        ["action"] = d.Action,
        ["installation_id"] = null,
        ["repository_id"] = d.Hook.Repository.Id,
        ["throttled_at"] = null,
    };

    private async Task DeliveryAsync(HttpContext http, FakeRepository? repo, string hookId, string id, bool redeliver)
    {
        var delivery = forge.Deliveries.FirstOrDefault(d => d.Hook.Repository == repo && d.Hook.Id.ToString(CultureInfo.InvariantCulture) == hookId
            && d.Id.ToString(CultureInfo.InvariantCulture) == id);
        if (delivery is null)
        {
            await JsonAsync(http, 404, new JsonObject { ["message"] = "Not Found" });
            return;
        }
        if (redeliver)
        {
            // GitHub answers 202 and delivers shortly after; delivering first makes "after the answer" deterministic.
            await forge.RedeliverAsync(delivery);
            await JsonAsync(http, 202, new JsonObject());
            return;
        }
        var detail = Summary(delivery);
        detail["request"] = new JsonObject
        {
            ["headers"] = new JsonObject([.. delivery.Headers.Select(h => KeyValuePair.Create(h.Key, (JsonNode?)JsonValue.Create(h.Value)))]),
            ["payload"] = JsonNode.Parse(delivery.Body),
        };
        detail["response"] = new JsonObject { ["headers"] = new JsonObject(), ["payload"] = delivery.ResponseBody };
        await JsonAsync(http, 200, detail);
    }

    private async Task RefsAsync(HttpContext http, FakeRepository? repo, string what, string sizeParameter, Func<string, JsonObject> commit)
    {
        if (repo is null)
        {
            await JsonAsync(http, 404, new JsonObject { ["message"] = "Not Found" });
            return;
        }
        var heads = (what == "tags" ? repo.Tags : repo.Branches).OrderBy(h => h.Key, StringComparer.Ordinal).ToList();
        var size = PageSize(http.Request, sizeParameter);
        var number = int.TryParse(http.Request.Query["page"], NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p > 0 ? p : 1;
        var page = heads.Skip((number - 1) * size).Take(size).ToList();
        if (number * size < heads.Count)
        {
            http.Response.Headers["X-Next-Page"] = (number + 1).ToString(CultureInfo.InvariantCulture);
            http.Response.Headers.Link = $"<{forge.Url}{http.Request.Path}?{sizeParameter}={size}&page={number + 1}>; rel=\"next\"";
        }
        await JsonAsync(http, 200, new JsonArray([.. page.Select(h =>
        {
            var item = new JsonObject { ["name"] = h.Key, ["commit"] = commit(h.Value) };
            if (repo.Kind == "gitlab" && what == "tags")
            {
                item["target"] = h.Value;
            }
            if (repo.Kind == "forgejo" && what == "tags")
            {
                item["id"] = h.Value;
            }
            return (JsonNode)item;
        })]));
    }

    private int PageSize(HttpRequest request, string parameter) =>
        int.TryParse(request.Query[parameter], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? Math.Min(n, 100) : forge.DefaultPageSize;

    private static async Task JsonAsync(HttpContext http, int status, JsonNode body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json; charset=utf-8";
        await http.Response.WriteAsync(body.ToJsonString());
    }
}
