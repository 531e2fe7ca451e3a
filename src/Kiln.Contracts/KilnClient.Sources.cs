using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Kiln.Contracts;

/// <summary>Source intake (kiln build) and mass rebuilds (kiln rebuild).</summary>
public sealed partial class KilnClient
{
    /// <summary>Largest chunk of a source file's content per request (the server's limit).</summary>
    public const int SourceChunkBytes = 4 * 1024 * 1024;

    /// <summary>Uploads <paramref name="length"/> bytes of a source file from <paramref name="content"/>'s position, stored at <paramref name="offset"/>. A zero-length chunk asks what is held.</summary>
    public async Task<SourceContentResponse> UploadSourceContentAsync(
        string project, string sha256, long size, long offset, Stream content, long length, CancellationToken ct)
    {
        var body = new StreamContent(new BoundedReadStream(content, length));
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        body.Headers.ContentLength = length;
        return await SendAsync<SourceContentResponse>(HttpMethod.Put,
            $"api/v1/projects/{Uri.EscapeDataString(project)}/sources/content{Query(("sha256", sha256), ("size", size.ToString(CultureInfo.InvariantCulture)), ("offset", offset.ToString(CultureInfo.InvariantCulture)))}",
            body, TransferTimeout, ct);
    }

    /// <summary>Records an upload (or a git build) and submits the project's package pipeline.</summary>
    public Task<SubmitSourceResponse> SubmitSourceAsync(string project, SubmitSourceRequest request, CancellationToken ct) =>
        SendAsync<SubmitSourceResponse>(HttpMethod.Post, $"api/v1/projects/{Uri.EscapeDataString(project)}/sources",
            JsonContent.Create(request, options: Json), TransferTimeout, ct);

    public Task<SourceUploadView> GetSourceUploadAsync(long id, CancellationToken ct) => GetAsync<SourceUploadView>($"api/v1/sources/{id}", ct);

    public Task<StartRebuildResponse> StartRebuildAsync(string project, StartRebuildRequest request, CancellationToken ct) =>
        SendAsync<StartRebuildResponse>(HttpMethod.Post, $"api/v1/projects/{Uri.EscapeDataString(project)}/rebuilds",
            JsonContent.Create(request, options: Json), TransferTimeout, ct);

    public Task<RebuildSubmitResponse> SubmitRebuildBatchAsync(long id, int max, CancellationToken ct) =>
        SendAsync<RebuildSubmitResponse>(HttpMethod.Post, $"api/v1/rebuilds/{id}/submit{Query(("max", max.ToString(CultureInfo.InvariantCulture)))}", null, TransferTimeout, ct);

    public Task<RebuildView> GetRebuildAsync(long id, CancellationToken ct) => GetAsync<RebuildView>($"api/v1/rebuilds/{id}", ct);
}
