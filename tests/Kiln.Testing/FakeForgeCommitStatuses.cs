using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Kiln.Testing;

/// <summary>
/// GitLab's and Forgejo's commit status APIs on the fake forge: GitLab
/// <c>POST /api/v4/projects/ID-or-PATH/statuses/SHA</c> {state, name, target_url, description} (the path
/// arrives unescaped, as one segment or several), Forgejo <c>POST /api/v1/repos/O/R/statuses/SHA</c>
/// {state, context, target_url, description}. Unknown repository: 404; a state the forge does not know: 422.
/// </summary>
internal sealed partial class FakeForgeApi
{
    private static readonly HashSet<string> s_gitLabStates = ["pending", "running", "success", "failed", "canceled", "skipped"];
    private static readonly HashSet<string> s_forgejoStates = ["pending", "success", "error", "failure", "warning"];

    private async Task<bool> CommitStatusRouteAsync(HttpContext http, string[] s)
    {
        if (!HttpMethods.IsPost(http.Request.Method) || s.Length < 6 || s[^2] != "statuses")
        {
            return false;
        }
        var sha = s[^1];
        FakeRepository? repo;
        string kind;
        if (s is ["api", "v4", "projects", ..])
        {
            kind = "gitlab";
            var project = string.Join('/', s[3..^2]);
            repo = long.TryParse(project, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                ? forge.Repositories.FirstOrDefault(r => r.Kind == "gitlab" && r.Id == id)
                : Find("gitlab", project);
        }
        else if (s is ["api", "v1", "repos", var owner, var name, "statuses", _])
        {
            kind = "forgejo";
            repo = Find("forgejo", $"{owner}/{name}");
        }
        else
        {
            return false;
        }
        if (await forge.StatusFaults.ApplyAsync(http, repo?.FullName))
        {
            return true;
        }
        if (repo is null)
        {
            await JsonAsync(http, 404, new JsonObject { ["message"] = "404 Project Not Found" });
            return true;
        }
        // The body was buffered by HandleAsync; read it again.
        http.Request.Body.Position = 0;
        using var reader = new StreamReader(http.Request.Body);
        var text = await reader.ReadToEndAsync(http.RequestAborted);
        JsonObject? body;
        try
        {
            body = JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException)
        {
            body = null;
        }
        var state = body?["state"] is JsonValue v && v.TryGetValue<string>(out var st) ? st : null;
        var context = body?[kind == "gitlab" ? "name" : "context"] is JsonValue c && c.TryGetValue<string>(out var ct) ? ct : "default";
        var description = body?["description"] is JsonValue d && d.TryGetValue<string>(out var ds) ? ds : null;
        if (state is null || !(kind == "gitlab" ? s_gitLabStates : s_forgejoStates).Contains(state))
        {
            await JsonAsync(http, 422, new JsonObject { ["message"] = $"state is invalid: {state}" });
            return true;
        }
        var at = forge.Time.GetUtcNow();
        forge.RecordStatusWrite(new FakeStatusWrite(kind, repo.FullName, sha, context, "status", state, description, null, at, text));
        await JsonAsync(http, 201, new JsonObject
        {
            ["id"] = forge.StatusWrites.Count,
            ["sha"] = sha,
            ["status"] = state,
            ["state"] = state,
            [kind == "gitlab" ? "name" : "context"] = context,
            ["description"] = description,
            ["target_url"] = body?["target_url"]?.DeepClone(),
            ["created_at"] = at.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        });
        return true;
    }
}
