using System.Net;
using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A full disk is a passing condition of the farm, not a bug: writes answer 507 with problem details,
/// nothing already stored is lost, and writes resume where they stopped once there is space again.
/// The volumes are real tmpfs mounts of 1 MiB, filled to the last block.
/// </summary>
public sealed class FullDiskTests(FullDiskServerFixture server) : IClassFixture<FullDiskServerFixture>
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_full_log_volume_answers_507_keeps_what_it_holds_and_appends_resume_when_space_returns()
    {
        var (worker, task) = await server.ClaimOneAsync("full-log");
        var first = Encoding.UTF8.GetBytes(new string('a', 10_000) + "\n");
        var second = Encoding.UTF8.GetBytes(new string('b', 64_000) + "\n");
        Assert.Equal(first.Length, (await worker.AppendLogAsync(task.WorkRequestId, task.Attempt, task.LeaseToken, 0, first, None)).Size);

        server.Logs.Fill();
        try
        {
            var refused = await Assert.ThrowsAsync<KilnApiException>(() =>
                worker.AppendLogAsync(task.WorkRequestId, task.Attempt, task.LeaseToken, first.Length, second, None));
            Assert.Equal(HttpStatusCode.InsufficientStorage, refused.Status);
            Assert.Contains("storage is full", refused.Message, StringComparison.Ordinal);
            Assert.True(refused.IsTransient);
        }
        finally
        {
            server.Logs.Free();
        }

        // The worker repeats from the size it knows; whatever part of the chunk went in before the disk filled is skipped.
        var resumed = await worker.AppendLogAsync(task.WorkRequestId, task.Attempt, task.LeaseToken, first.Length, second, None);
        Assert.Equal(first.Length + second.Length, resumed.Size);
        using var log = new MemoryStream();
        await worker.ReadLogAsync(task.WorkRequestId, task.Attempt, 0, 0, log, None);
        Assert.Equal([.. first, .. second], log.ToArray());
    }

    [Fact]
    public async Task A_full_artifact_volume_answers_507_and_the_upload_resumes_when_space_returns()
    {
        var (worker, task) = await server.ClaimOneAsync("full-artifacts");
        var content = RandomNumberGenerator.GetBytes(300_000);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var declaration = new ArtifactUploadRequest(task.LeaseToken, "out.bin", sha, content.Length);
        Assert.False((await worker.BeginArtifactAsync(task.WorkRequestId, declaration, None)).Complete);

        server.Artifacts.Fill();
        try
        {
            var refused = await Assert.ThrowsAsync<KilnApiException>(() =>
                worker.UploadArtifactContentAsync(task.WorkRequestId, task.LeaseToken, sha, content.Length, 0, new MemoryStream(content), content.Length, None));
            Assert.Equal(HttpStatusCode.InsufficientStorage, refused.Status);
            Assert.Contains("storage is full", refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            server.Artifacts.Free();
        }

        var resume = await worker.BeginArtifactAsync(task.WorkRequestId, declaration, None);
        Assert.False(resume.Complete);
        var rest = new MemoryStream(content) { Position = resume.UploadOffset };
        var done = await worker.UploadArtifactContentAsync(task.WorkRequestId, task.LeaseToken, sha, content.Length, resume.UploadOffset, rest,
            content.Length - resume.UploadOffset, None);
        Assert.Equal(content.Length, done.UploadOffset);
        Assert.True((await worker.BeginArtifactAsync(task.WorkRequestId, declaration, None)).Complete);
        using var copy = new MemoryStream();
        await worker.DownloadArtifactAsync(task.WorkRequestId, task.Attempt, "out.bin", 0, copy, None);
        Assert.Equal(content, copy.ToArray());
    }
}
