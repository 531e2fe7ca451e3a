using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Kiln.Contracts;

/// <summary>
/// Typed client of the Kiln HTTP API (<c>/api/v1</c>), shared by the CLI and the worker.
/// Every call has its own timeout (see <see cref="DefaultCallTimeout"/>); a refusal becomes a
/// <see cref="KilnApiException"/> carrying the server's problem detail. Use
/// <see cref="IsTransient"/> to decide whether a failed call is worth repeating.
/// </summary>
public sealed partial class KilnClient : IDisposable
{
    /// <summary>Timeout of ordinary calls (reads, submissions, reports).</summary>
    public static readonly TimeSpan DefaultCallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one upload or download request (a chunk of at most a few MB).</summary>
    public static readonly TimeSpan TransferTimeout = TimeSpan.FromMinutes(5);

    /// <summary>What the server is given beyond a long-poll's own wait before the call counts as failed.</summary>
    public static readonly TimeSpan LongPollSlack = TimeSpan.FromSeconds(15);

    /// <summary>JSON as the API speaks it: camelCase; lenient on read so an older client survives new fields.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <param name="server">Base URL of the server, e.g. <c>http://127.0.0.1:8080</c>.</param>
    /// <param name="bearer">Token sent as <c>Authorization: Bearer</c> (a worker's secret), if any.</param>
    public KilnClient(Uri server, string? bearer = null)
        : this(new HttpClient { BaseAddress = server, Timeout = Timeout.InfiniteTimeSpan }, bearer, ownsHttp: true)
    {
    }

    /// <param name="http">A client whose base address is the server; its own timeout should be infinite (calls set theirs).</param>
    public KilnClient(HttpClient http, string? bearer = null, bool ownsHttp = false)
    {
        _http = http;
        _ownsHttp = ownsHttp;
        Bearer = bearer;
    }

    /// <summary>Bearer token for worker calls; set after registration.</summary>
    public string? Bearer { get; set; }

    public Uri? Server => _http.BaseAddress;

    /// <summary>True when repeating the call may succeed: network trouble, timeouts, 5xx, 408, 429.</summary>
    public static bool IsTransient(Exception e, CancellationToken callerToken = default) => e switch
    {
        KilnApiException api => api.IsTransient,
        HttpRequestException => true,
        IOException => true,
        OperationCanceledException => !callerToken.IsCancellationRequested,
        _ => false,
    };

    // ---- workers ----

    /// <summary>Registers with the farm's registration token; sets <see cref="Bearer"/> to the returned secret.</summary>
    public async Task<RegisterWorkerResponse> RegisterWorkerAsync(string registrationToken, RegisterWorkerRequest request, CancellationToken ct)
    {
        var response = await SendAsync<RegisterWorkerResponse>(HttpMethod.Post, "api/v1/workers/register", JsonContent.Create(request, options: Json),
            DefaultCallTimeout, ct, bearer: registrationToken);
        Bearer = response.Secret;
        return response;
    }

    public Task<ClaimResponse> ClaimAsync(ClaimRequest request, CancellationToken ct) =>
        SendAsync<ClaimResponse>(HttpMethod.Post, "api/v1/workers/claim", JsonContent.Create(request, options: Json),
            TimeSpan.FromSeconds(request.WaitSeconds) + LongPollSlack, ct);

    public Task<HeartbeatResponse> HeartbeatAsync(HeartbeatRequest request, CancellationToken ct) =>
        SendAsync<HeartbeatResponse>(HttpMethod.Post, "api/v1/workers/heartbeat", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<ReportResponse> CompleteAsync(long workRequestId, CompleteRequest request, CancellationToken ct) =>
        SendAsync<ReportResponse>(HttpMethod.Post, $"api/v1/work-requests/{workRequestId}/complete", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<ReportResponse> FailAsync(long workRequestId, EndWithoutResultRequest request, CancellationToken ct) =>
        SendAsync<ReportResponse>(HttpMethod.Post, $"api/v1/work-requests/{workRequestId}/fail", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    /// <summary>Hands back work this worker has not started; it is requeued at once and the attempt is not counted.</summary>
    public Task<ReportResponse> ReleaseAsync(long workRequestId, EndWithoutResultRequest request, CancellationToken ct) =>
        SendAsync<ReportResponse>(HttpMethod.Post, $"api/v1/work-requests/{workRequestId}/release", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    /// <summary>Several reports in one request; each gets its own answer (a refused one does not fail the others).</summary>
    public Task<ReportBatchResponse> ReportAsync(ReportBatchRequest request, CancellationToken ct) =>
        SendAsync<ReportBatchResponse>(HttpMethod.Post, "api/v1/work-requests/reports", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<Page<WorkerView>> ListWorkersAsync(int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<WorkerView>>($"api/v1/workers/{Query(("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    /// <summary>Disables the worker <paramref name="name"/>: its secret is refused, it gets no work, its running work is handed back.</summary>
    public Task<ActionResponse> DisableWorkerAsync(string name, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/workers/{Uri.EscapeDataString(name)}/disable", null, DefaultCallTimeout, ct);

    /// <summary>Lets a disabled worker register again.</summary>
    public Task<ActionResponse> EnableWorkerAsync(string name, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/workers/{Uri.EscapeDataString(name)}/enable", null, DefaultCallTimeout, ct);

    /// <summary>Removes a worker that runs nothing from the lists.</summary>
    public Task<ActionResponse> RemoveWorkerAsync(string name, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Delete, $"api/v1/workers/{Uri.EscapeDataString(name)}", null, DefaultCallTimeout, ct);

    // ---- workflows ----

    public Task<SubmitWorkflowResponse> SubmitAsync(WorkflowDocument document, CancellationToken ct) =>
        SendAsync<SubmitWorkflowResponse>(HttpMethod.Post, "api/v1/workflows/", JsonContent.Create(document, options: Json), DefaultCallTimeout, ct);

    public Task<WorkflowView> GetWorkflowAsync(long id, CancellationToken ct) => GetAsync<WorkflowView>($"api/v1/workflows/{id}", ct);

    public Task<Page<WorkflowView>> ListWorkflowsAsync(string? project, string? state, int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<WorkflowView>>($"api/v1/workflows/{Query(("project", project), ("state", state), ("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    public Task<ActionResponse> CancelWorkflowAsync(long id, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/workflows/{id}/cancel", null, DefaultCallTimeout, ct);

    public Task<ActionResponse> RetryWorkflowAsync(long id, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/workflows/{id}/retry", null, DefaultCallTimeout, ct);

    // ---- work requests ----

    public Task<WorkRequestView> GetWorkRequestAsync(long id, CancellationToken ct) => GetAsync<WorkRequestView>($"api/v1/work-requests/{id}", ct);

    public Task<Page<WorkRequestSummary>> ListWorkRequestsAsync(long? workflowId, string? state, int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<WorkRequestSummary>>($"api/v1/work-requests/{Query(("workflow", workflowId?.ToString(CultureInfo.InvariantCulture)), ("state", state), ("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    public Task<ActionResponse> CancelWorkRequestAsync(long id, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/work-requests/{id}/cancel", null, DefaultCallTimeout, ct);

    public Task<ActionResponse> RetryWorkRequestAsync(long id, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/work-requests/{id}/retry", null, DefaultCallTimeout, ct);

    /// <summary>Why a work request is not running (or what it is doing), in words.</summary>
    public Task<ExplainView> ExplainAsync(long id, CancellationToken ct) => GetAsync<ExplainView>($"api/v1/work-requests/{id}/explain", ct);

    public Task<ActionResponse> SetPriorityAsync(long workRequestId, int priority, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/work-requests/{workRequestId}/priority",
            JsonContent.Create(new PriorityChange(priority, null), options: Json), DefaultCallTimeout, ct);

    public Task<ActionResponse> AdjustWorkflowPriorityAsync(long workflowId, int adjust, CancellationToken ct) =>
        SendAsync<ActionResponse>(HttpMethod.Post, $"api/v1/workflows/{workflowId}/priority",
            JsonContent.Create(new PriorityChange(null, adjust), options: Json), DefaultCallTimeout, ct);

    // ---- projects ----

    public Task<Page<ProjectView>> ListProjectsAsync(int limit, string? after, CancellationToken ct) =>
        GetAsync<Page<ProjectView>>($"api/v1/projects/{Query(("limit", limit.ToString(CultureInfo.InvariantCulture)), ("after", after))}", ct);

    public Task<ProjectView> GetProjectAsync(string name, CancellationToken ct) => GetAsync<ProjectView>($"api/v1/projects/{Uri.EscapeDataString(name)}", ct);

    public Task<ProjectView> PutProjectAsync(string name, ProjectSettings settings, CancellationToken ct) =>
        SendAsync<ProjectView>(HttpMethod.Put, $"api/v1/projects/{Uri.EscapeDataString(name)}", JsonContent.Create(settings, options: Json), DefaultCallTimeout, ct);

    // ---- operations ----

    /// <summary>The farm at a glance: version, database, leader, clock skew, queues, workers.</summary>
    public Task<FarmStatus> GetStatusAsync(CancellationToken ct) => GetAsync<FarmStatus>("api/v1/status", ct);

    // ---- plumbing ----

    private Task<T> GetAsync<T>(string path, CancellationToken ct) => SendAsync<T>(HttpMethod.Get, path, null, DefaultCallTimeout, ct);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, TimeSpan timeout, CancellationToken ct, string? bearer = null, Guid? leaseToken = null)
    {
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutCts.CancelAfter(timeout);
        using var request = NewRequest(method, path, content, bearer);
        if (leaseToken is { } lease)
        {
            request.Headers.Add(LeaseHeaders.LeaseToken, lease.ToString());
        }
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutCts.Token);
        await EnsureSuccessAsync(response, timeoutCts.Token);
        return await response.Content.ReadFromJsonAsync<T>(Json, timeoutCts.Token)
            ?? throw new KilnApiException(response.StatusCode, "Empty answer", $"the server answered {path} with an empty body", []);
    }

    private HttpRequestMessage NewRequest(HttpMethod method, string path, HttpContent? content = null, string? bearer = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        if ((bearer ?? Bearer) is { } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return request;
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        ObserveNotice(response);
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        string title = response.ReasonPhrase ?? response.StatusCode.ToString();
        string detail = "";
        var errors = new List<FieldError>();
        try
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (text.Length > 0 && text.TrimStart().StartsWith('{'))
            {
                using var problem = JsonDocument.Parse(text);
                var root = problem.RootElement;
                title = root.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : title;
                detail = root.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
                if (root.TryGetProperty("errors", out var list) && list.ValueKind == JsonValueKind.Array)
                {
                    foreach (var e in list.EnumerateArray())
                    {
                        errors.Add(new FieldError(
                            e.TryGetProperty("field", out var f) ? f.GetString() ?? "" : "",
                            e.TryGetProperty("message", out var m) ? m.GetString() ?? "" : ""));
                    }
                }
            }
            else if (text.Length > 0)
            {
                detail = text.Length > 300 ? text[..300] : text;
            }
        }
        catch (JsonException)
        {
            // Not a problem document (a proxy's error page): the status says enough.
        }
        throw new KilnApiException(response.StatusCode, title, detail.Length > 0 ? detail : $"{(int)response.StatusCode} {title}", errors)
        {
            // Only the delta form: Kiln sends seconds, and a date would need this machine's clock to agree.
            RetryAfter = response.Headers.RetryAfter?.Delta is { } wait && wait > TimeSpan.Zero
                ? (wait < KilnApiException.MaxRetryAfter ? wait : KilnApiException.MaxRetryAfter)
                : null,
        };
    }

    private static string Query(params (string Name, string? Value)[] pairs)
    {
        var present = pairs.Where(p => p.Value is not null).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return present.Count == 0 ? "" : "?" + string.Join('&', present);
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }
}
