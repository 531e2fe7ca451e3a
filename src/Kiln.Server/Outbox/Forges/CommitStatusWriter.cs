using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.Contracts;
using Kiln.Store.Outbox;

namespace Kiln.Server.Outbox.Forges;

/// <summary>
/// Commit statuses, one POST per write, with the link's token: GitHub
/// <c>POST /repos/O/R/statuses/SHA</c> (token links; App installations write check runs instead),
/// GitLab <c>POST /projects/PATH/statuses/SHA</c>, Forgejo/Gitea <c>POST /repos/O/R/statuses/SHA</c>.
/// A commit status is keyed by (commit, context) on the forge: writing it again replaces what it shows.
/// </summary>
public sealed class CommitStatusWriter(OutboxHttp http, TimeProvider time)
{
    public async Task<SendAnswer> WriteAsync(StatusWrite write, CancellationToken ct)
    {
        if (write.Token is null)
        {
            return new SendAnswer(SendOutcome.Failed, null, "the repository link has no API token to write commit statuses with; link it again with --token");
        }
        var (url, body) = write.Forge switch
        {
            EventSources.GitLab => ($"{write.ApiUrl}/projects/{Uri.EscapeDataString(write.Repository)}/statuses/{write.Sha}", new JsonObject
            {
                ["state"] = GitLabState(write.Phase),
                ["name"] = write.Context,
                ["target_url"] = write.TargetUrl,
                ["description"] = write.Description,
            }),
            EventSources.Forgejo => ($"{write.ApiUrl}/repos/{write.Repository}/statuses/{write.Sha}", new JsonObject
            {
                ["state"] = ForgejoState(write.Phase),
                ["context"] = write.Context,
                ["target_url"] = write.TargetUrl,
                ["description"] = write.Description,
            }),
            _ => ($"{write.ApiUrl}/repos/{write.Repository}/statuses/{write.Sha}", new JsonObject
            {
                ["state"] = GitHubState(write.Phase),
                ["context"] = write.Context,
                ["target_url"] = write.TargetUrl,
                ["description"] = write.Description,
            }),
        };
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        Authorize(request, write.Forge, write.Token);
        using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var answer = await ForgeAnswers.BodyAsync(response, ct);
        return ForgeAnswers.Classify(response, answer, time.GetUtcNow()) with { Method = "POST", Url = url, Body = bytes };
    }

    /// <summary>The forge's way of presenting a token (GitHub: Bearer; GitLab: PRIVATE-TOKEN; Forgejo: token).</summary>
    public static void Authorize(HttpRequestMessage request, string forge, string token)
    {
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("Kiln", "1.0"));
        switch (forge)
        {
            case EventSources.GitLab:
                request.Headers.Add("PRIVATE-TOKEN", token);
                break;
            case EventSources.Forgejo:
                request.Headers.Authorization = new AuthenticationHeaderValue("token", token);
                break;
            default:
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/vnd.github+json"));
                request.Headers.Add("X-GitHub-Api-Version", "2022-11-28");
                break;
        }
    }

    /// <summary>GitHub commit statuses know error, failure, pending, success.</summary>
    public static string GitHubState(string phase) => phase switch
    {
        "succeeded" => "success",
        "failed" => "failure",
        "cancelled" or "skipped" or "superseded" => "error",
        _ => "pending",
    };

    /// <summary>GitLab knows pending, running, success, failed, canceled, skipped.</summary>
    public static string GitLabState(string phase) => phase switch
    {
        "running" => "running",
        "succeeded" => "success",
        "failed" => "failed",
        "cancelled" or "superseded" => "canceled",
        "skipped" => "skipped",
        _ => "pending",
    };

    /// <summary>Forgejo and Gitea know pending, success, error, failure, warning.</summary>
    public static string ForgejoState(string phase) => phase switch
    {
        "succeeded" => "success",
        "failed" => "failure",
        "cancelled" => "error",
        "skipped" or "superseded" => "warning",
        _ => "pending",
    };

}

/// <summary>GitLab commit statuses through <see cref="CommitStatusWriter"/>.</summary>
public sealed class GitLabStatusWriter(CommitStatusWriter statuses) : IForgeStatusWriter
{
    public string Forge => EventSources.GitLab;

    public Task<SendAnswer> WriteAsync(StatusWrite write, CancellationToken ct) => statuses.WriteAsync(write, ct);
}

/// <summary>Forgejo/Gitea commit statuses through <see cref="CommitStatusWriter"/>.</summary>
public sealed class ForgejoStatusWriter(CommitStatusWriter statuses) : IForgeStatusWriter
{
    public string Forge => EventSources.Forgejo;

    public Task<SendAnswer> WriteAsync(StatusWrite write, CancellationToken ct) => statuses.WriteAsync(write, ct);
}
