using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Kiln.Testing;

/// <summary>A check run on the fake forge, as GitHub keeps it.</summary>
public sealed record FakeCheckRun(
    long Id, string Repository, string HeadSha, string Name, string? ExternalId, string Status, string? Conclusion, string? Title, string? Summary, string? DetailsUrl);

public sealed partial class FakeForge
{
    private readonly Dictionary<string, RSA> _apps = [];
    private readonly HashSet<string> _installationTokens = [];
    private readonly Dictionary<long, FakeCheckRun> _checkRuns = [];
    private long _nextCheckRun = 1000;

    /// <summary>Every check run on the forge, by id.</summary>
    public IReadOnlyList<FakeCheckRun> CheckRuns { get { lock (_gate) { return [.. _checkRuns.Values.OrderBy(r => r.Id)]; } } }

    /// <summary>Registers a GitHub App: JWTs with iss <paramref name="appId"/> must verify with <paramref name="publicKey"/>.</summary>
    public void RegisterApp(string appId, RSA publicKey)
    {
        lock (_gate)
        {
            _apps[appId] = publicKey;
        }
    }

    internal bool IsInstallationToken(string authorization)
    {
        lock (_gate)
        {
            return authorization.StartsWith("Bearer ghs_", StringComparison.Ordinal) && _installationTokens.Contains(authorization["Bearer ".Length..]);
        }
    }

    /// <summary>Verifies an App JWT (RS256 signature, iss a registered App, not expired); the App id, or null.</summary>
    internal string? VerifyAppJwt(string authorization)
    {
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || authorization["Bearer ".Length..].Split('.') is not [var header, var payload, var signature])
        {
            return null;
        }
        try
        {
            var claims = JsonNode.Parse(FromBase64Url(payload)) as JsonObject;
            var head = JsonNode.Parse(FromBase64Url(header)) as JsonObject;
            if ((string?)head?["alg"] != "RS256" || claims?["iss"]?.ToString() is not { } iss || claims["exp"]?.GetValue<long>() is not { } exp
                || exp < Time.GetUtcNow().ToUnixTimeSeconds())
            {
                return null;
            }
            RSA? key;
            lock (_gate)
            {
                _apps.TryGetValue(iss, out key);
            }
            return key is not null && key.VerifyData(Encoding.ASCII.GetBytes($"{header}.{payload}"), FromBase64Url(signature), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                ? iss : null;
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    internal string IssueInstallationToken()
    {
        var token = "ghs_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        lock (_gate)
        {
            _installationTokens.Add(token);
        }
        return token;
    }

    internal FakeCheckRun SaveCheckRun(Func<long, FakeCheckRun> make)
    {
        lock (_gate)
        {
            var run = make(_nextCheckRun++);
            _checkRuns[run.Id] = run;
            return run;
        }
    }

    internal FakeCheckRun? UpdateCheckRun(long id, string repository, Func<FakeCheckRun, FakeCheckRun> change)
    {
        lock (_gate)
        {
            if (!_checkRuns.TryGetValue(id, out var run) || !run.Repository.Equals(repository, StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }
            return _checkRuns[id] = change(run);
        }
    }

    private static byte[] FromBase64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded.PadRight(padded.Length + ((4 - (padded.Length % 4)) % 4), '='));
    }
}

/// <summary>GitHub's status APIs on the fake forge: App installation tokens, check runs, commit statuses.</summary>
internal sealed partial class FakeForgeApi
{
    internal const string BodyKey = "fake-forge-body";

    private async Task<bool> GitHubStatusRouteAsync(HttpContext http, string[] s)
    {
        var method = http.Request.Method;
        switch (s)
        {
            case ["app", "installations", _, "access_tokens"] when HttpMethods.IsPost(method):
                if (forge.VerifyAppJwt(http.Request.Headers.Authorization.ToString()) is null)
                {
                    await JsonAsync(http, 401, new JsonObject { ["message"] = "A JSON web token could not be decoded" });
                    return true;
                }
                await JsonAsync(http, 201, new JsonObject
                {
                    ["token"] = forge.IssueInstallationToken(),
                    ["expires_at"] = forge.Time.GetUtcNow().AddHours(1).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                });
                return true;
            case ["repos", var owner, var name, "commits", var sha, "check-runs"] when HttpMethods.IsGet(method):
            {
                var checkName = http.Request.Query["check_name"].ToString();
                var runs = forge.CheckRuns.Where(r => r.Repository.Equals($"{owner}/{name}", StringComparison.OrdinalIgnoreCase) && r.HeadSha == sha
                    && (checkName.Length == 0 || r.Name == checkName)).ToList();
                await JsonAsync(http, 200, new JsonObject
                {
                    ["total_count"] = runs.Count,
                    ["check_runs"] = new JsonArray([.. runs.Select(r => (JsonNode)new JsonObject
                    {
                        ["id"] = r.Id, ["name"] = r.Name, ["external_id"] = r.ExternalId, ["status"] = r.Status, ["conclusion"] = r.Conclusion,
                    })]),
                });
                return true;
            }
            case ["repos", var owner, var name, "check-runs"] when HttpMethods.IsPost(method):
            {
                if (await forge.StatusFaults.ApplyAsync(http))
                {
                    return true;
                }
                var raw = (byte[])http.Items[BodyKey]!;
                if (JsonNode.Parse(raw) is not JsonObject body || body["name"]?.ToString() is not { } runName || body["head_sha"]?.ToString() is not { } headSha)
                {
                    await JsonAsync(http, 422, new JsonObject { ["message"] = "Invalid request: name and head_sha are required" });
                    return true;
                }
                var run = forge.SaveCheckRun(id => new FakeCheckRun(id, $"{owner}/{name}", headSha, runName, body["external_id"]?.ToString(),
                    body["status"]?.ToString() ?? "queued", body["conclusion"]?.ToString(), body["output"]?["title"]?.ToString(), body["output"]?["summary"]?.ToString(),
                    body["details_url"]?.ToString()));
                Record(run, raw);
                await JsonAsync(http, 201, RunJson(run));
                return true;
            }
            case ["repos", var owner, var name, "check-runs", var idText] when HttpMethods.IsPatch(method):
            {
                if (await forge.StatusFaults.ApplyAsync(http))
                {
                    return true;
                }
                var raw = (byte[])http.Items[BodyKey]!;
                if (!long.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || JsonNode.Parse(raw) is not JsonObject body)
                {
                    await JsonAsync(http, 404, new JsonObject { ["message"] = "Not Found" });
                    return true;
                }
                var run = forge.UpdateCheckRun(id, $"{owner}/{name}", r => r with
                {
                    Status = body["status"]?.ToString() ?? r.Status,
                    Conclusion = body["conclusion"]?.ToString() ?? r.Conclusion,
                    Title = body["output"]?["title"]?.ToString() ?? r.Title,
                    Summary = body["output"]?["summary"]?.ToString() ?? r.Summary,
                    DetailsUrl = body["details_url"]?.ToString() ?? r.DetailsUrl,
                });
                if (run is null)
                {
                    await JsonAsync(http, 404, new JsonObject { ["message"] = "Not Found" });
                    return true;
                }
                Record(run, raw);
                await JsonAsync(http, 200, RunJson(run));
                return true;
            }
            default:
                return false;
        }
    }

    private void Record(FakeCheckRun run, byte[] raw) => forge.RecordStatusWrite(new FakeStatusWrite(
        "github", run.Repository, run.HeadSha, run.Name, "check-run", run.Status == "completed" ? $"completed/{run.Conclusion}" : run.Status,
        run.Title, run.Id, forge.Time.GetUtcNow(), Encoding.UTF8.GetString(raw)));

    private static JsonObject RunJson(FakeCheckRun run) => new()
    {
        ["id"] = run.Id, ["name"] = run.Name, ["head_sha"] = run.HeadSha, ["external_id"] = run.ExternalId, ["status"] = run.Status,
        ["conclusion"] = run.Conclusion, ["details_url"] = run.DetailsUrl,
        ["output"] = new JsonObject { ["title"] = run.Title, ["summary"] = run.Summary },
    };
}
