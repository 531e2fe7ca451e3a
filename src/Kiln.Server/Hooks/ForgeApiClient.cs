using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Events;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Hooks;

/// <summary>A delivery in GitHub's list of a hook's deliveries.</summary>
internal sealed record HookDelivery(long Id, string Guid, DateTimeOffset DeliveredAt, int StatusCode);

/// <summary>
/// The forge API calls a reconcile makes, each bounded: a call times out after
/// <see cref="CallTimeout"/>, an answer is read up to <see cref="MaxAnswerBytes"/>, listings stop
/// after <see cref="MaxPages"/> pages. GitHub: the hook's deliveries (cursor pages, newest first)
/// and their redelivery; all three: branch and tag heads.
/// </summary>
internal sealed class ForgeApiClient(HttpClient http)
{
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    public const int MaxAnswerBytes = 8 * 1024 * 1024;
    public const int MaxPages = 20;
    public const int PageSize = 100;

    /// <summary>Branch and tag heads as full refs (refs/heads/…, refs/tags/…) with their commits; names a forge lists that Kiln cannot keep are skipped.</summary>
    public async Task<(List<(string Ref, string Sha)> Heads, bool Cut)> HeadsAsync(LinkForReconcile link, CancellationToken ct)
    {
        var heads = new List<(string, string)>();
        var cut = false;
        foreach (var (what, prefix) in new[] { ("branches", "refs/heads/"), ("tags", "refs/tags/") })
        {
            for (var page = 1; ; page++)
            {
                if (page > MaxPages)
                {
                    cut = true;
                    break;
                }
                var url = link.Forge switch
                {
                    EventSources.GitLab => $"{link.ApiUrl}/projects/{Uri.EscapeDataString(link.Repository)}/repository/{what}?per_page={PageSize}&page={page}",
                    EventSources.Forgejo => $"{link.ApiUrl}/repos/{link.Repository}/{what}?limit={PageSize}&page={page}",
                    _ => $"{link.ApiUrl}/repos/{link.Repository}/{what}?per_page={PageSize}&page={page}",
                };
                using var document = await GetAsync(link, url, ct);
                var items = document.Root.EnumerateArray().ToList();
                foreach (var item in items)
                {
                    var name = item.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
                    var sha = Commit(item);
                    if (name is { Length: > 0 and <= 240 } && SafeText.Problem(name, multiline: false) is null && sha is not null && Payload.IsSha(sha))
                    {
                        heads.Add((prefix + name, sha.ToLowerInvariant()));
                    }
                }
                if (items.Count < PageSize)
                {
                    break;
                }
            }
        }
        return (heads, cut);
    }

    /// <summary>GitHub: commit.sha; GitLab and Forgejo branches: commit.id; Forgejo tags: commit.sha.</summary>
    private static string? Commit(JsonElement item) =>
        item.TryGetProperty("commit", out var commit) && commit.ValueKind == JsonValueKind.Object
            ? (commit.TryGetProperty("sha", out var sha) && sha.ValueKind == JsonValueKind.String ? sha.GetString()
               : commit.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null)
            : null;

    /// <summary>GitHub: the hook's deliveries since <paramref name="since"/>, newest first, following the Link header's next page.</summary>
    public async Task<List<HookDelivery>> DeliveriesAsync(LinkForReconcile link, DateTimeOffset since, CancellationToken ct)
    {
        var deliveries = new List<HookDelivery>();
        string? url = $"{link.ApiUrl}/repos/{link.Repository}/hooks/{link.HookId}/deliveries?per_page={PageSize}";
        for (var page = 0; url is not null && page < MaxPages; page++)
        {
            using var document = await GetAsync(link, url, ct);
            var older = false;
            foreach (var item in document.Root.EnumerateArray())
            {
                if (item.TryGetProperty("id", out var id) && id.TryGetInt64(out var number)
                    && item.TryGetProperty("guid", out var guid) && guid.GetString() is { Length: > 0 and <= ForgeIntake.MaxDeliveryKey } key
                    && item.TryGetProperty("delivered_at", out var at) && DateTimeOffset.TryParse(at.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when))
                {
                    older |= when < since;
                    if (when >= since)
                    {
                        deliveries.Add(new HookDelivery(number, key, when, item.TryGetProperty("status_code", out var s) && s.TryGetInt32(out var code) ? code : 0));
                    }
                }
            }
            // Follow the next page only on the forge's own host: the token goes with it.
            url = older || document.Next is not { } next || new Uri(next).GetLeftPart(UriPartial.Authority) != new Uri(link.ApiUrl!).GetLeftPart(UriPartial.Authority)
                ? null : next;
        }
        return deliveries;
    }

    /// <summary>GitHub: asks for delivery <paramref name="deliveryId"/> to be sent again (202).</summary>
    public async Task RedeliverAsync(LinkForReconcile link, long deliveryId, CancellationToken ct)
    {
        using var request = Request(link, HttpMethod.Post, $"{link.ApiUrl}/repos/{link.Repository}/hooks/{link.HookId}/deliveries/{deliveryId}/attempts");
        using var response = await SendAsync(request, ct);
        await EnsureAsync(response, request, ct);
    }

    private sealed class Answer(JsonDocument document, string? next) : IDisposable
    {
        public JsonElement Root => document.RootElement;
        public string? Next { get; } = next;
        public void Dispose() => document.Dispose();
    }

    private async Task<Answer> GetAsync(LinkForReconcile link, string url, CancellationToken ct)
    {
        using var request = Request(link, HttpMethod.Get, url);
        using var response = await SendAsync(request, ct);
        await EnsureAsync(response, request, ct);
        var bytes = await ReadAsync(response, ct);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException)
        {
            throw new ReconcileException(StatusCodes.Status502BadGateway, $"the forge answered GET {Shown(request)} with something that is not JSON");
        }
        if (document.RootElement.ValueKind != JsonValueKind.Array)
        {
            document.Dispose();
            throw new ReconcileException(StatusCodes.Status502BadGateway, $"the forge answered GET {Shown(request)} with JSON that is not a list");
        }
        return new Answer(document, NextLink(response));
    }

    private static HttpRequestMessage Request(LinkForReconcile link, HttpMethod method, string url)
    {
        var request = new HttpRequestMessage(method, url);
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("kiln", "1"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (link.Forge == EventSources.GitHub)
        {
            request.Headers.Add("X-GitHub-Api-Version", "2022-11-28");
        }
        if (link.Token is { } token)
        {
            if (link.Forge == EventSources.GitLab)
            {
                request.Headers.Add("PRIVATE-TOKEN", token);
            }
            else
            {
                request.Headers.Authorization = new AuthenticationHeaderValue(link.Forge == EventSources.Forgejo ? "token" : "Bearer", token);
            }
        }
        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(CallTimeout);
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ReconcileException(StatusCodes.Status504GatewayTimeout, $"the forge did not answer {request.Method} {Shown(request)} within {CallTimeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException e)
        {
            throw new ReconcileException(StatusCodes.Status502BadGateway, $"the forge could not be reached at {Shown(request)}: {e.Message}");
        }
    }

    private static async Task EnsureAsync(HttpResponseMessage response, HttpRequestMessage request, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var text = System.Text.Encoding.UTF8.GetString(await ReadAsync(response, ct));
        text = SafeText.Clean(text.Length > 200 ? text[..200] : text, multiline: false);
        throw new ReconcileException(StatusCodes.Status502BadGateway,
            $"the forge answered {request.Method} {Shown(request)} with {(int)response.StatusCode}{(text.Length > 0 ? ": " + text : "")}");
    }

    private static async Task<byte[]> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxAnswerBytes)
            {
                throw new ReconcileException(StatusCodes.Status502BadGateway, $"the forge's answer is larger than {MaxAnswerBytes} bytes");
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>The URL without its query, for messages.</summary>
    private static string Shown(HttpRequestMessage request) => request.RequestUri!.GetLeftPart(UriPartial.Path);

    /// <summary>RFC 8288's rel="next" of a Link header.</summary>
    private static string? NextLink(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var values))
        {
            return null;
        }
        foreach (var part in string.Join(",", values).Split(','))
        {
            var pieces = part.Split(';');
            if (pieces.Length > 1 && pieces.Skip(1).Any(p => p.Trim() is "rel=\"next\"" or "rel=next"))
            {
                var url = pieces[0].Trim().TrimStart('<').TrimEnd('>');
                return Uri.TryCreate(url, UriKind.Absolute, out _) ? url : null;
            }
        }
        return null;
    }
}
