using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Contracts;
using Kiln.Store.Outbox;

namespace Kiln.Server.Outbox.Forges;

/// <summary>
/// GitHub: check runs for App installations, commit statuses (<see cref="CommitStatusWriter"/>) for
/// token links. For an installation the writer signs a JWT as the App (RS256, the key of the
/// <c>forge_apps</c> row of the link's API URL), exchanges it for an installation token (cached until
/// five minutes before it expires, dropped on a 401), then creates the check run once (found again by
/// its external_id when a create's answer was lost) and updates it by id afterwards.
/// </summary>
public sealed class GitHubStatusWriter(CommitStatusWriter statuses, ForgeAppStore apps, OutboxHttp http, TimeProvider time) : IForgeStatusWriter
{
    /// <summary>A cached installation token is used until this long before it expires.</summary>
    public static readonly TimeSpan TokenMargin = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<(string Api, string Installation), (string Token, DateTimeOffset Until)> _tokens = new();

    public string Forge => EventSources.GitHub;

    public async Task<SendAnswer> WriteAsync(StatusWrite write, CancellationToken ct)
    {
        if (write.InstallationId is not { } installation)
        {
            return await statuses.WriteAsync(write, ct);
        }
        var (token, failed) = await TokenAsync(write.ApiUrl, installation, ct);
        if (failed is not null)
        {
            return failed;
        }
        var remoteId = write.RemoteId;
        if (remoteId is null)
        {
            var lookupUrl = $"{write.ApiUrl}/repos/{write.Repository}/commits/{write.Sha}/check-runs?check_name={Uri.EscapeDataString(write.Context)}&filter=all&per_page=100";
            var (lookup, found) = await FindAsync(lookupUrl, token!, write.ExternalId, ct);
            if (lookup.Outcome != SendOutcome.Acknowledged)
            {
                Forget(write.ApiUrl, installation, lookup);
                return lookup;
            }
            remoteId = found;
        }
        var create = remoteId is null;
        var body = Body(write, create, time.GetUtcNow());
        var url = create ? $"{write.ApiUrl}/repos/{write.Repository}/check-runs" : $"{write.ApiUrl}/repos/{write.Repository}/check-runs/{remoteId}";
        var method = create ? HttpMethod.Post : HttpMethod.Patch;
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        using var request = new HttpRequestMessage(method, url) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        CommitStatusWriter.Authorize(request, EventSources.GitHub, token!);
        using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var text = await ForgeAnswers.BodyAsync(response, ct);
        var answer = ForgeAnswers.Classify(response, text, time.GetUtcNow()) with { Method = method.Method, Url = url, Body = bytes, RemoteId = remoteId };
        if (create && answer.Outcome == SendOutcome.Acknowledged)
        {
            answer = answer with { RemoteId = IdOf(text) };
            if (answer.RemoteId is null)
            {
                answer = answer with { Outcome = SendOutcome.Retry, Answer = $"{answer.Answer} (no check run id in the answer)" };
            }
        }
        Forget(write.ApiUrl, installation, answer);
        return answer;
    }

    /// <summary>GitHub's check run fields for a phase: status, and conclusion when completed.</summary>
    public static (string Status, string? Conclusion) CheckRunState(string phase) => phase switch
    {
        "running" => ("in_progress", null),
        "succeeded" => ("completed", "success"),
        "failed" => ("completed", "failure"),
        "cancelled" or "superseded" => ("completed", "cancelled"),
        "skipped" => ("completed", "skipped"),
        _ => ("queued", null),
    };

    private static JsonObject Body(StatusWrite write, bool create, DateTimeOffset now)
    {
        var (status, conclusion) = CheckRunState(write.Phase);
        var body = new JsonObject();
        if (create)
        {
            body["name"] = write.Context;
            body["head_sha"] = write.Sha;
            body["external_id"] = write.ExternalId;
        }
        body["details_url"] = write.TargetUrl;
        body["status"] = status;
        if (conclusion is not null)
        {
            body["conclusion"] = conclusion;
            body["completed_at"] = now.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        }
        body["output"] = new JsonObject { ["title"] = write.Description, ["summary"] = write.Summary };
        return body;
    }

    /// <summary>Looks up the check runs of the commit with the context's name; the id of the one that is this target's.</summary>
    private async Task<(SendAnswer Answer, string? Id)> FindAsync(string url, string token, string externalId, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        CommitStatusWriter.Authorize(request, EventSources.GitHub, token);
        using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.IsSuccessStatusCode)
        {
            var runs = await response.Content.ReadFromJsonAsync<JsonObject>(ct);
            var answer = ForgeAnswers.Classify(response, "", time.GetUtcNow()) with { Method = "GET", Url = url };
            var id = runs?["check_runs"] is JsonArray list
                ? list.OfType<JsonObject>().FirstOrDefault(r => r["external_id"]?.GetValueKind() == JsonValueKind.String && (string?)r["external_id"] == externalId)?["id"]?.ToString()
                : null;
            return (answer, id);
        }
        var text = await ForgeAnswers.BodyAsync(response, ct);
        return (ForgeAnswers.Classify(response, text, time.GetUtcNow()) with { Method = "GET", Url = url }, null);
    }

    /// <summary>An installation token: cached, or minted with a JWT signed as the App.</summary>
    private async Task<(string? Token, SendAnswer? Failed)> TokenAsync(string api, string installation, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (_tokens.TryGetValue((api, installation), out var cached) && cached.Until > now)
        {
            return (cached.Token, null);
        }
        if (await apps.KeyAsync(api, ct) is not { } app)
        {
            return (null, new SendAnswer(SendOutcome.Failed, null,
                $"no GitHub App is registered for {api}: an admin registers it with PUT /api/v1/forge-apps to write check runs for installation {installation}"));
        }
        string jwt;
        try
        {
            jwt = Jwt(app.AppId, app.Pem, now);
        }
        catch (CryptographicException e)
        {
            return (null, new SendAnswer(SendOutcome.Failed, null, $"the GitHub App key of {api} does not sign: {e.Message}"));
        }
        var url = $"{api}/app/installations/{Uri.EscapeDataString(installation)}/access_tokens";
        using var request = new HttpRequestMessage(HttpMethod.Post, url);
        CommitStatusWriter.Authorize(request, EventSources.GitHub, jwt);
        using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var text = await ForgeAnswers.BodyAsync(response, ct);
        var answer = ForgeAnswers.Classify(response, text, time.GetUtcNow()) with { Method = "POST", Url = url };
        if (answer.Outcome != SendOutcome.Acknowledged)
        {
            return (null, answer with { Answer = $"installation token: {answer.Answer}" });
        }
        try
        {
            var document = JsonNode.Parse(text) as JsonObject;
            if (document?["token"]?.GetValue<string>() is { Length: > 0 } token)
            {
                var expires = document["expires_at"]?.GetValue<string>() is { } e
                    && DateTimeOffset.TryParse(e, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : now.AddHours(1);
                _tokens[(api, installation)] = (token, expires - TokenMargin);
                return (token, null);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            // falls through: not the answer GitHub documents
        }
        return (null, answer with { Outcome = SendOutcome.Retry, Answer = $"installation token: {answer.Answer} (no token in the answer)" });
    }

    /// <summary>A token GitHub refuses (401) is dropped: the next write mints a new one.</summary>
    private void Forget(string api, string installation, SendAnswer answer)
    {
        if (answer.StatusCode == (int)HttpStatusCode.Unauthorized)
        {
            _tokens.TryRemove((api, installation), out _);
        }
    }

    private static string? IdOf(string text)
    {
        try
        {
            return (JsonNode.Parse(text) as JsonObject)?["id"]?.ToString();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The App's JWT: RS256, iat a minute back (clock drift), exp nine minutes ahead (GitHub allows ten), iss the App id.</summary>
    public static string Jwt(string appId, string pem, DateTimeOffset now)
    {
        var header = Base64Url("""{"alg":"RS256","typ":"JWT"}"""u8);
        var claims = new JsonObject
        {
            ["iat"] = now.AddSeconds(-60).ToUnixTimeSeconds(),
            ["exp"] = now.AddSeconds(540).ToUnixTimeSeconds(),
            ["iss"] = appId,
        };
        var payload = Base64Url(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        using var rsa = RSA.Create();
        rsa.ImportFromPem(pem);
        var signature = rsa.SignData(Encoding.ASCII.GetBytes($"{header}.{payload}"), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return $"{header}.{payload}.{Base64Url(signature)}";
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
