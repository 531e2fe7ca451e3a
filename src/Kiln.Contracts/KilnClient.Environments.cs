using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Kiln.Contracts;

public sealed partial class KilnClient
{
    // ---- environments ----

    public Task<EnvironmentList> ListEnvironmentsAsync(CancellationToken ct) => GetAsync<EnvironmentList>("api/v1/environments/", ct);

    public Task<EnvironmentDetail> GetEnvironmentAsync(string name, CancellationToken ct) =>
        GetAsync<EnvironmentDetail>($"api/v1/environments/{EnvironmentPath(name)}", ct);

    public Task<EnvironmentBuildResponse> CreateEnvironmentAsync(CreateEnvironmentRequest request, CancellationToken ct) =>
        SendAsync<EnvironmentBuildResponse>(HttpMethod.Post, "api/v1/environments/", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    public Task<EnvironmentBuildResponse> RefreshEnvironmentAsync(string name, CancellationToken ct) =>
        SendAsync<EnvironmentBuildResponse>(HttpMethod.Post, $"api/v1/environments/{EnvironmentPath(name)}/refresh", null, DefaultCallTimeout, ct);

    /// <summary>Uploads <paramref name="length"/> bytes of a tarball from <paramref name="content"/>'s position, stored at <paramref name="offset"/>.</summary>
    public async Task<ArtifactUploadResponse> UploadEnvironmentAsync(string name, string sha256, long size, long offset, Stream content, long length, CancellationToken ct)
    {
        var body = new StreamContent(new BoundedReadStream(content, length));
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        body.Headers.ContentLength = length;
        return await SendAsync<ArtifactUploadResponse>(HttpMethod.Put,
            $"api/v1/environments/{EnvironmentPath(name)}/upload{Query(("sha256", sha256), ("size", size.ToString(CultureInfo.InvariantCulture)), ("offset", offset.ToString(CultureInfo.InvariantCulture)))}",
            body, TransferTimeout, ct);
    }

    public Task<EnvironmentDetail> ImportEnvironmentAsync(string name, ImportEnvironmentRequest request, CancellationToken ct) =>
        SendAsync<EnvironmentDetail>(HttpMethod.Post, $"api/v1/environments/{EnvironmentPath(name)}/versions", JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    /// <summary><c>debian/bookworm-amd64</c> → <c>debian/bookworm-amd64</c>, each half escaped.</summary>
    private static string EnvironmentPath(string name)
    {
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? Uri.EscapeDataString(name) + "/-" : $"{Uri.EscapeDataString(name[..slash])}/{Uri.EscapeDataString(name[(slash + 1)..])}";
    }
}
