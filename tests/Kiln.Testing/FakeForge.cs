using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Kiln.Testing;

/// <summary>
/// A forge in the tests: a real HTTP server on 127.0.0.1 holding repositories (branch and tag heads,
/// webhooks), that sends signed deliveries exactly as GitHub (X-Hub-Signature-256), GitLab
/// (X-Gitlab-Token, Idempotency-Key, optionally Standard Webhooks) and Forgejo (X-Forgejo-Signature)
/// do, records every delivery (<see cref="Deliveries"/>) and serves the parts of their APIs Kiln
/// calls: GitHub's hook deliveries list and redeliver, and branch and tag listings of all three
/// (<see cref="FakeForgeApi"/>). Every API request is logged (<see cref="Requests"/>), and
/// <see cref="Intercept"/> lets a test answer any request its own way (latency, rate limits).
/// </summary>
public sealed partial class FakeForge : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly List<FakeRepository> _repositories = [];
    private readonly List<FakeDelivery> _deliveries = [];
    private readonly List<ForgeRequest> _requests = [];
    private readonly HttpClient _sender = new() { Timeout = TimeSpan.FromSeconds(60) };
    private WebApplication? _app;
    private long _ids = 1000;

    private FakeForge(TimeProvider time, string? token)
    {
        Time = time;
        ApiToken = token;
    }

    /// <summary>http://127.0.0.1:PORT</summary>
    public string Url { get; private set; } = "";

    /// <summary>The API token the forge's API requires (as Bearer, "token …" or GitLab's PRIVATE-TOKEN); null: any caller.</summary>
    public string? ApiToken { get; }

    public TimeProvider Time { get; }

    /// <summary>Answers a request before the forge does; return true when it was answered.</summary>
    public Func<HttpContext, Task<bool>>? Intercept { get; set; }

    /// <summary>Listings' page size (GitHub's per_page, GitLab's per_page, Forgejo's limit) when the caller asks for none.</summary>
    public int DefaultPageSize { get; set; } = 30;

    public IReadOnlyList<FakeDelivery> Deliveries { get { lock (_gate) { return [.. _deliveries]; } } }

    public IReadOnlyList<ForgeRequest> Requests { get { lock (_gate) { return [.. _requests]; } } }

    public IReadOnlyList<FakeRepository> Repositories { get { lock (_gate) { return [.. _repositories]; } } }

    public static async Task<FakeForge> StartAsync(string? apiToken = "forge-api-token", TimeProvider? time = null)
    {
        var forge = new FakeForge(time ?? TimeProvider.System, apiToken);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var api = new FakeForgeApi(forge);
        app.Run(api.HandleAsync);
        await app.StartAsync();
        forge._app = app;
        forge.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        return forge;
    }

    /// <summary>Where Kiln reaches this forge's API: the server (GitHub), /api/v4 (GitLab), /api/v1 (Forgejo).</summary>
    public string ApiUrl(string kind) => kind switch
    {
        "gitlab" => $"{Url}/api/v4",
        "forgejo" => $"{Url}/api/v1",
        _ => Url,
    };

    /// <summary>The repository <paramref name="fullName"/> of forge kind <paramref name="kind"/>, made on first use.</summary>
    public FakeRepository Repository(string kind, string fullName)
    {
        lock (_gate)
        {
            var found = _repositories.FirstOrDefault(r => r.Kind == kind && r.FullName.Equals(fullName, StringComparison.OrdinalIgnoreCase));
            if (found is null)
            {
                found = new FakeRepository(this, kind, fullName, NextId());
                _repositories.Add(found);
            }
            return found;
        }
    }

    internal long NextId() => Interlocked.Increment(ref _ids);

    /// <summary>Moves a branch and sends the push to every hook of the repository (the before is the old head, or zeros).</summary>
    public Task<IReadOnlyList<FakeDelivery>> PushAsync(FakeRepository repo, string branch, string sha)
    {
        var before = repo.Branches.GetValueOrDefault(branch) ?? FakeForgePayloads.Zero;
        repo.SetBranch(branch, sha);
        var (name, body) = FakeForgePayloads.Push(repo, $"refs/heads/{branch}", before, sha);
        return SendToAllAsync(repo, name, null, body);
    }

    /// <summary>Sets a tag and sends its push to every hook.</summary>
    public Task<IReadOnlyList<FakeDelivery>> PushTagAsync(FakeRepository repo, string tag, string sha)
    {
        repo.SetTag(tag, sha);
        var (name, body) = FakeForgePayloads.Push(repo, $"refs/tags/{tag}", FakeForgePayloads.Zero, sha);
        return SendToAllAsync(repo, name, null, body);
    }

    public Task<IReadOnlyList<FakeDelivery>> PullRequestAsync(FakeRepository repo, long number, string action, string headBranch, string sha, string baseBranch = "main")
    {
        var (name, body) = FakeForgePayloads.PullRequest(repo, number, action, headBranch, sha, baseBranch);
        return SendToAllAsync(repo, name, action, body);
    }

    public Task<IReadOnlyList<FakeDelivery>> ReleaseAsync(FakeRepository repo, string tag, string action, string sha)
    {
        var (name, body) = FakeForgePayloads.Release(repo, tag, action, sha);
        return SendToAllAsync(repo, name, action, body);
    }

    /// <summary>GitHub's ping of one hook.</summary>
    public Task<FakeDelivery> PingAsync(FakeHook hook)
    {
        var (name, body) = FakeForgePayloads.Ping(hook);
        return SendAsync(hook, name, null, Encoding.UTF8.GetBytes(body.ToJsonString()));
    }

    private async Task<IReadOnlyList<FakeDelivery>> SendToAllAsync(FakeRepository repo, string name, string? action, JsonObject body)
    {
        var sent = new List<FakeDelivery>();
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        foreach (var hook in repo.Hooks)
        {
            sent.Add(await SendAsync(hook, name, action, bytes));
        }
        return sent;
    }

    /// <summary>
    /// Sends one delivery of <paramref name="body"/> (exactly these bytes) to <paramref name="hook"/>,
    /// signed as its forge signs; <paramref name="tamper"/> may change the request after signing (a
    /// bad signature, a missing header). <paramref name="guid"/>: the delivery's id (a redelivery's
    /// is the original's). A dropping hook records the delivery as failed and sends nothing.
    /// </summary>
    public async Task<FakeDelivery> SendAsync(
        FakeHook hook, string eventName, string? action, byte[] body, Action<HttpRequestMessage>? tamper = null, string? guid = null, bool redelivery = false)
    {
        guid ??= Guid.NewGuid().ToString();
        using var request = new HttpRequestMessage(HttpMethod.Post, hook.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        Sign(hook, request, eventName, guid, body);
        tamper?.Invoke(request);
        var headers = request.Headers.Concat(request.Content.Headers).ToDictionary(h => h.Key, h => string.Join(", ", h.Value), StringComparer.OrdinalIgnoreCase);
        var (status, answer) = (0, "");
        if (!hook.Dropping)
        {
            try
            {
                using var response = await _sender.SendAsync(request);
                (status, answer) = ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
            }
            catch (HttpRequestException e)
            {
                answer = e.Message;
            }
        }
        var delivery = new FakeDelivery(NextId(), guid, hook, eventName, action, body, headers, Time.GetUtcNow(), status, answer, redelivery);
        lock (_gate)
        {
            _deliveries.Add(delivery);
        }
        return delivery;
    }

    /// <summary>Sends <paramref name="original"/> again with the same GUID (what GitHub's "Redeliver" does); the hook's current URL and secret sign it.</summary>
    public Task<FakeDelivery> RedeliverAsync(FakeDelivery original) =>
        SendAsync(original.Hook, original.Event, original.Action, original.Body, guid: original.Guid, redelivery: true);

    private void Sign(FakeHook hook, HttpRequestMessage request, string eventName, string guid, byte[] body)
    {
        var secret = Encoding.UTF8.GetBytes(hook.Secret);
        var h = request.Headers;
        switch (hook.Repository.Kind)
        {
            case "gitlab":
                h.Add("User-Agent", "GitLab/17.9.0");
                h.Add("X-Gitlab-Event", eventName);
                h.Add("X-Gitlab-Token", hook.Secret);
                h.Add("X-Gitlab-Instance", Url);
                h.Add("X-Gitlab-Webhook-UUID", hook.Uuid.ToString());
                h.Add("X-Gitlab-Event-UUID", guid);
                h.Add("Idempotency-Key", guid);
                if (hook.StandardWebhooks)
                {
                    var stamp = Time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
                    var key = hook.Secret.StartsWith("whsec_", StringComparison.Ordinal) ? Convert.FromBase64String(hook.Secret["whsec_".Length..]) : secret;
                    var signed = Encoding.UTF8.GetBytes($"{guid}.{stamp}.").Concat(body).ToArray();
                    h.Add("webhook-id", guid);
                    h.Add("webhook-timestamp", stamp);
                    h.Add("webhook-signature", "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed)));
                }
                break;
            case "forgejo":
                var hex = Convert.ToHexStringLower(HMACSHA256.HashData(secret, body));
                h.Add("User-Agent", "Go-http-client/1.1");
                foreach (var prefix in new[] { "X-Forgejo", "X-Gitea", "X-Gogs" })
                {
                    h.Add($"{prefix}-Delivery", guid);
                    h.Add($"{prefix}-Event", eventName);
                    h.Add($"{prefix}-Event-Type", eventName);
                    h.Add($"{prefix}-Signature", hex);
                }
                h.Add("X-Hook-UUID", hook.Uuid.ToString());
                break;
            default:
                h.Add("User-Agent", "GitHub-Hookshot/fake");
                h.Add("X-GitHub-Event", eventName);
                h.Add("X-GitHub-Delivery", guid);
                h.Add("X-GitHub-Hook-ID", hook.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                h.Add("X-GitHub-Hook-Installation-Target-Type", hook.Organisation ? "organization" : "repository");
                h.Add("X-GitHub-Hook-Installation-Target-ID", hook.Repository.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
#pragma warning disable CA5350 // GitHub still sends its legacy SHA-1 signature beside the SHA-256 one; Kiln must ignore it.
                h.Add("X-Hub-Signature", "sha1=" + Convert.ToHexStringLower(HMACSHA1.HashData(secret, body)));
#pragma warning restore CA5350
                h.Add("X-Hub-Signature-256", "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(secret, body)));
                break;
        }
    }

    internal void Log(ForgeRequest request)
    {
        lock (_gate)
        {
            _requests.Add(request);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _sender.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
