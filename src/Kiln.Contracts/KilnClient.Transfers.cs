using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace Kiln.Contracts;

/// <summary>Logs and artifacts: byte transfers with offsets, so every one can resume where it stopped.</summary>
public sealed partial class KilnClient
{
    /// <summary>Appends <paramref name="chunk"/> at <paramref name="offset"/> of an attempt's log; returns how much the server holds.</summary>
    public async Task<LogAppendResponse> AppendLogAsync(long workRequestId, int attempt, Guid leaseToken, long offset, ReadOnlyMemory<byte> chunk, CancellationToken ct)
    {
        var content = new ReadOnlyMemoryContent(chunk);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return await SendAsync<LogAppendResponse>(HttpMethod.Post,
            $"api/v1/work-requests/{workRequestId}/log{Query(("attempt", Num(attempt)), ("offset", Num(offset)))}",
            content, DefaultCallTimeout, ct, leaseToken: leaseToken);
    }

    /// <summary>
    /// Copies an attempt's log from <paramref name="offset"/> to <paramref name="destination"/>. With
    /// <paramref name="waitSeconds"/> &gt; 0 the server holds the call until new bytes arrive or the attempt ends.
    /// </summary>
    /// <param name="attempt">The attempt; null for the work request's latest.</param>
    public async Task<LogReadResult> ReadLogAsync(long workRequestId, int? attempt, long offset, int waitSeconds, Stream destination, CancellationToken ct)
    {
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutCts.CancelAfter(TimeSpan.FromSeconds(waitSeconds) + TransferTimeout);
        using var request = NewRequest(HttpMethod.Get,
            $"api/v1/work-requests/{workRequestId}/log{Query(("attempt", attempt is null ? null : Num(attempt.Value)), ("offset", Num(offset)), ("wait", Num(waitSeconds)))}");
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutCts.Token);
        await EnsureSuccessAsync(response, timeoutCts.Token);
        await using var body = await response.Content.ReadAsStreamAsync(timeoutCts.Token);
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer, timeoutCts.Token)) > 0)
        {
            await destination.WriteAsync(buffer.AsMemory(0, read), timeoutCts.Token);
            total += read;
        }
        return new LogReadResult(
            int.Parse(Header(response, LogHeaders.Attempt) ?? "0", CultureInfo.InvariantCulture),
            long.Parse(Header(response, LogHeaders.Size) ?? "0", CultureInfo.InvariantCulture),
            string.Equals(Header(response, LogHeaders.Complete), "true", StringComparison.OrdinalIgnoreCase),
            total);
    }

    /// <summary>Declares an output; the answer says whether it is recorded or from which offset to upload its content.</summary>
    public Task<ArtifactUploadResponse> BeginArtifactAsync(long workRequestId, ArtifactUploadRequest request, CancellationToken ct) =>
        SendAsync<ArtifactUploadResponse>(HttpMethod.Post, $"api/v1/work-requests/{workRequestId}/artifacts",
            JsonContent.Create(request, options: Json), DefaultCallTimeout, ct);

    /// <summary>Uploads <paramref name="length"/> bytes of content from <paramref name="content"/>'s position, to be stored at <paramref name="offset"/>.</summary>
    public async Task<ArtifactUploadResponse> UploadArtifactContentAsync(
        long workRequestId, Guid leaseToken, string sha256, long size, long offset, Stream content, long length, CancellationToken ct)
    {
        var body = new StreamContent(new BoundedReadStream(content, length));
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        body.Headers.ContentLength = length;
        return await SendAsync<ArtifactUploadResponse>(HttpMethod.Put,
            $"api/v1/work-requests/{workRequestId}/artifacts/content{Query(("sha256", sha256), ("size", Num(size)), ("offset", Num(offset)))}",
            body, TransferTimeout, ct, leaseToken: leaseToken);
    }

    /// <param name="attempt">The attempt; null for the work request's latest.</param>
    public Task<ArtifactList> ListArtifactsAsync(long workRequestId, int? attempt, CancellationToken ct) =>
        GetAsync<ArtifactList>($"api/v1/work-requests/{workRequestId}/artifacts{Query(("attempt", attempt is null ? null : Num(attempt.Value)))}", ct);

    /// <summary>Downloads an artifact's content from byte <paramref name="from"/> on (a range request) into <paramref name="destination"/>.</summary>
    /// <returns>Bytes written.</returns>
    public async Task<long> DownloadArtifactAsync(long workRequestId, int attempt, string path, long from, Stream destination, CancellationToken ct)
    {
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutCts.CancelAfter(TransferTimeout);
        using var request = NewRequest(HttpMethod.Get,
            $"api/v1/work-requests/{workRequestId}/artifacts/{EscapePath(path)}{Query(("attempt", Num(attempt)))}");
        if (from > 0)
        {
            request.Headers.Range = new RangeHeaderValue(from, null);
        }
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutCts.Token);
        await EnsureSuccessAsync(response, timeoutCts.Token);
        await using var body = await response.Content.ReadAsStreamAsync(timeoutCts.Token);
        var before = destination.CanSeek ? destination.Position : 0;
        await body.CopyToAsync(destination, timeoutCts.Token);
        return destination.CanSeek ? destination.Position - before : -1;
    }

    /// <summary>
    /// Downloads an artifact to <c>directory/artifact.Path</c>, resuming a partial file with a range
    /// request, and verifies its SHA-256 (a corrupted file is emptied and an <see cref="IOException"/> thrown,
    /// so a repeat starts afresh).
    /// </summary>
    /// <returns>The file written.</returns>
    public async Task<string> DownloadArtifactIntoAsync(long workRequestId, int attempt, ArtifactView artifact, string directory, CancellationToken ct)
    {
        // "out/" and "out" are the same directory: without the trim, "out/" + "/" never prefixes a path inside it.
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        var target = Path.GetFullPath(Path.Combine(root, artifact.Path));
        if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"artifact path '{artifact.Path}' would leave {directory}");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        await using var file = new FileStream(target, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.Asynchronous);
        if (file.Length > artifact.Size)
        {
            file.SetLength(0);
        }
        file.Seek(0, SeekOrigin.End);
        if (file.Length < artifact.Size)
        {
            await DownloadArtifactAsync(workRequestId, attempt, artifact.Path, file.Length, file, ct);
        }
        file.Seek(0, SeekOrigin.Begin);
        var hash = Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(file, ct));
        if (hash != artifact.Sha256)
        {
            file.SetLength(0);
            throw new IOException($"{artifact.Path} arrived corrupted (SHA-256 {hash}, expected {artifact.Sha256}); download it again");
        }
        return target;
    }

    /// <summary>Each segment escaped, the slashes kept.</summary>
    public static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
