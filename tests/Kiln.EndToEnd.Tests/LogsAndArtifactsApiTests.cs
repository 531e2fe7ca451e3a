using System.Net;
using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.EndToEnd.Tests;

/// <summary>The log and artifact endpoints' promises, against an in-process server: idempotent by offset, fenced, resumable, validated.</summary>
public sealed class LogsAndArtifactsApiTests(IsolatedServerFixture server) : IClassFixture<IsolatedServerFixture>
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Log_appends_are_idempotent_by_offset_and_never_leave_a_gap()
    {
        var (worker, task) = await ClaimAsync("log-offsets");

        Assert.Equal(6, (await Append(worker, task, 0, "hello ")).Size);
        Assert.Equal(6, (await Append(worker, task, 0, "hello ")).Size);
        Assert.Equal(11, (await Append(worker, task, 6, "world")).Size);
        Assert.Equal(12, (await Append(worker, task, 3, "lo world!")).Size);
        Assert.Equal(12, (await Append(worker, task, 20, "gap")).Size);

        using var read = new MemoryStream();
        var result = await worker.ReadLogAsync(task.WorkRequestId, null, 0, 0, read, None);
        Assert.Equal("hello world!", Encoding.UTF8.GetString(read.ToArray()));
        Assert.False(result.Complete);
        Assert.Equal(task.Attempt, result.Attempt);

        using var tail = new MemoryStream();
        await worker.ReadLogAsync(task.WorkRequestId, task.Attempt, 6, 0, tail, None);
        Assert.Equal("world!", Encoding.UTF8.GetString(tail.ToArray()));
    }

    [Fact]
    public async Task Log_is_final_once_the_attempt_ends_and_a_waiting_reader_is_answered()
    {
        var (worker, task) = await ClaimAsync("log-final");
        await Append(worker, task, 0, "line\n");
        var waiting = worker.ReadLogAsync(task.WorkRequestId, task.Attempt, 5, 20, Stream.Null, None);
        await Append(worker, task, 5, "more\n");
        Assert.Equal(5, (await waiting).BytesRead);

        await worker.CompleteAsync(task.WorkRequestId, new CompleteRequest(task.LeaseToken, "succeeded", 0, null), None);
        var final = await worker.ReadLogAsync(task.WorkRequestId, task.Attempt, 10, 20, Stream.Null, None);
        Assert.True(final.Complete);
        Assert.Equal(10, final.Size);
        var refused = await Assert.ThrowsAsync<KilnApiException>(() => Append(worker, task, 10, "late"));
        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
    }

    [Fact]
    public async Task Log_writes_without_the_lease_are_refused()
    {
        var (worker, task) = await ClaimAsync("log-fence");
        var refused = await Assert.ThrowsAsync<KilnApiException>(() =>
            worker.AppendLogAsync(task.WorkRequestId, task.Attempt, Guid.NewGuid(), 0, "x"u8.ToArray(), None));
        Assert.Equal(HttpStatusCode.Conflict, refused.Status);
    }

    [Theory]
    [InlineData("../escape.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("dir/../../x")]
    public async Task Artifact_paths_that_leave_the_working_directory_are_refused(string path)
    {
        var (worker, task) = await ClaimAsync("paths-" + Math.Abs(path.GetHashCode(StringComparison.Ordinal)));
        var refused = await Assert.ThrowsAsync<KilnApiException>(() =>
            worker.BeginArtifactAsync(task.WorkRequestId, new ArtifactUploadRequest(task.LeaseToken, path, Sha("x"), 1), None));
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Contains("path", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Artifacts_over_the_size_limit_are_refused_with_a_clear_413()
    {
        var (worker, task) = await ClaimAsync("too-large");
        var refused = await Assert.ThrowsAsync<KilnApiException>(() =>
            worker.BeginArtifactAsync(task.WorkRequestId, new ArtifactUploadRequest(task.LeaseToken, "huge.iso", Sha("x"), 5L << 30), None));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.Status);
        Assert.Contains("at most", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Uploads_resume_where_they_stopped_and_identical_content_is_stored_once()
    {
        var (worker, task) = await ClaimAsync("resume");
        var content = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 5000).Select(i => $"line {i}\n")));
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var declaration = new ArtifactUploadRequest(task.LeaseToken, "out/data.txt", sha, content.Length);

        var first = await worker.BeginArtifactAsync(task.WorkRequestId, declaration, None);
        Assert.False(first.Complete);
        Assert.Equal(0, first.UploadOffset);
        var half = content.Length / 2;
        await worker.UploadArtifactContentAsync(task.WorkRequestId, task.LeaseToken, sha, content.Length, 0, new MemoryStream(content), half, None);

        // An interrupted upload: the server says where to resume.
        var resumed = await worker.BeginArtifactAsync(task.WorkRequestId, declaration, None);
        Assert.Equal(half, resumed.UploadOffset);
        var rest = new MemoryStream(content) { Position = half };
        var done = await worker.UploadArtifactContentAsync(task.WorkRequestId, task.LeaseToken, sha, content.Length, half, rest, content.Length - half, None);
        Assert.Equal(content.Length, done.UploadOffset);
        Assert.True((await worker.BeginArtifactAsync(task.WorkRequestId, declaration, None)).Complete);

        var copy = await worker.BeginArtifactAsync(task.WorkRequestId, declaration with { Path = "copy.txt" }, None);
        Assert.True(copy.Complete);

        using var ranged = new MemoryStream();
        await worker.DownloadArtifactAsync(task.WorkRequestId, task.Attempt, "copy.txt", 100, ranged, None);
        Assert.Equal(content.AsSpan(100).ToArray(), ranged.ToArray());
        var list = await worker.ListArtifactsAsync(task.WorkRequestId, null, None);
        Assert.Equal(["copy.txt", "out/data.txt"], list.Items.Select(a => a.Path));
    }

    [Fact]
    public async Task Content_that_does_not_match_its_hash_is_discarded()
    {
        var (worker, task) = await ClaimAsync("corrupt");
        var claimed = Sha("what was promised");
        var sent = "something else!!!"u8.ToArray();
        await worker.BeginArtifactAsync(task.WorkRequestId, new ArtifactUploadRequest(task.LeaseToken, "x.bin", claimed, sent.Length), None);
        var refused = await Assert.ThrowsAsync<KilnApiException>(() =>
            worker.UploadArtifactContentAsync(task.WorkRequestId, task.LeaseToken, claimed, sent.Length, 0, new MemoryStream(sent), sent.Length, None));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        var again = await worker.BeginArtifactAsync(task.WorkRequestId, new ArtifactUploadRequest(task.LeaseToken, "x.bin", claimed, sent.Length), None);
        Assert.Equal(0, again.UploadOffset);
    }

    private static Task<LogAppendResponse> Append(KilnClient worker, Assignment task, long offset, string text) =>
        worker.AppendLogAsync(task.WorkRequestId, task.Attempt, task.LeaseToken, offset, Encoding.UTF8.GetBytes(text), None);

    private static string Sha(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private Task<(KilnClient Worker, Assignment Task)> ClaimAsync(string name) => server.ClaimOneAsync(name);
}
