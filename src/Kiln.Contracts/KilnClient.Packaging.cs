using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Kiln.Contracts;

/// <summary>Environments, structured results and publishing: the calls a worker makes for built-in kinds.</summary>
public sealed partial class KilnClient
{
    /// <summary>Uploads an attempt's structured result; the answer says whether the attempt must fail despite its exit code.</summary>
    public Task<ResultVerdict> PutResultAsync(long workRequestId, ResultUpload upload, CancellationToken ct) =>
        SendAsync<ResultVerdict>(HttpMethod.Put, $"api/v1/work-requests/{workRequestId}/result",
            JsonContent.Create(upload, options: Json), DefaultCallTimeout, ct);

    /// <summary>Asks the server to publish the artifacts of a publish job's needs; may take a while on a large repository.</summary>
    public Task<PublishResponse> PublishAsync(long workRequestId, Guid leaseToken, CancellationToken ct) =>
        SendAsync<PublishResponse>(HttpMethod.Post, $"api/v1/work-requests/{workRequestId}/publish",
            JsonContent.Create(new PublishRequest(leaseToken), options: Json), TransferTimeout, ct);

    /// <summary>
    /// Copies an environment's tarball (the blob <paramref name="sha256"/>) from byte <paramref name="from"/> on into
    /// <paramref name="destination"/>. The caller verifies the hash.
    /// </summary>
    public async Task DownloadEnvironmentAsync(string sha256, long from, Stream destination, CancellationToken ct)
    {
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutCts.CancelAfter(TransferTimeout * 4);
        using var request = NewRequest(HttpMethod.Get, $"api/v1/environments/blobs/{Uri.EscapeDataString(sha256)}");
        if (from > 0)
        {
            request.Headers.Range = new RangeHeaderValue(from, null);
        }
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutCts.Token);
        await EnsureSuccessAsync(response, timeoutCts.Token);
        await using var body = await response.Content.ReadAsStreamAsync(timeoutCts.Token);
        await body.CopyToAsync(destination, timeoutCts.Token);
    }
}
