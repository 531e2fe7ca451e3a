using System.Net;
using System.Security.Cryptography;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A stored blob is served only while it is what its name says. Damage (a disk fault, a power loss
/// before the bytes were durable) is a clear, permanent answer instead of bad bytes or a retry loop,
/// and the next upload of the same content repairs it.
/// </summary>
public sealed class BlobIntegrityTests(IsolatedServerFixture server) : IClassFixture<IsolatedServerFixture>
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_damaged_blob_is_refused_on_download_and_an_upload_of_the_same_content_repairs_it()
    {
        var content = RandomNumberGenerator.GetBytes(50_000);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var (worker, task) = await server.ClaimOneAsync("damaged-blob");
        await UploadAsync(worker, task, "out.bin", content);

        // Same length, other bytes: only the hash can tell.
        var blob = Path.Combine(server.DataDirectory, "artifacts", "blobs", sha[..2], sha);
        await File.WriteAllBytesAsync(blob, new byte[content.Length]);

        for (var i = 0; i < 2; i++)
        {
            var refused = await Assert.ThrowsAsync<KilnApiException>(() =>
                worker.DownloadArtifactAsync(task.WorkRequestId, task.Attempt, "out.bin", 0, new MemoryStream(), None));
            Assert.Equal(HttpStatusCode.Gone, refused.Status);
            Assert.False(refused.IsTransient);
        }

        // Another task produces the same bytes: they are uploaded again (not "already stored"), and the first artifact is whole again.
        var (other, again) = await server.ClaimOneAsync("damaged-blob-repair");
        var declared = await other.BeginArtifactAsync(again.WorkRequestId, new ArtifactUploadRequest(again.LeaseToken, "same.bin", sha, content.Length), None);
        Assert.False(declared.Complete);
        await UploadAsync(other, again, "same.bin", content);
        Assert.Equal(content, await DownloadAsync(worker, task, "out.bin"));
    }

    [Fact]
    public async Task A_blob_cut_short_by_a_power_loss_is_not_taken_as_stored()
    {
        var content = RandomNumberGenerator.GetBytes(20_000);
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var (worker, task) = await server.ClaimOneAsync("empty-blob");
        await UploadAsync(worker, task, "out.bin", content);
        var blob = Path.Combine(server.DataDirectory, "artifacts", "blobs", sha[..2], sha);
        await File.WriteAllBytesAsync(blob, []);

        var (other, again) = await server.ClaimOneAsync("empty-blob-repair");
        var declared = await other.BeginArtifactAsync(again.WorkRequestId, new ArtifactUploadRequest(again.LeaseToken, "same.bin", sha, content.Length), None);
        Assert.False(declared.Complete);
        Assert.Equal(0, declared.UploadOffset);
        await UploadAsync(other, again, "same.bin", content);
        Assert.Equal(content, await DownloadAsync(worker, task, "out.bin"));
    }

    private static async Task UploadAsync(KilnClient worker, Assignment task, string path, byte[] content)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        var declaration = new ArtifactUploadRequest(task.LeaseToken, path, sha, content.Length);
        var state = await worker.BeginArtifactAsync(task.WorkRequestId, declaration, None);
        if (!state.Complete)
        {
            await worker.UploadArtifactContentAsync(task.WorkRequestId, task.LeaseToken, sha, content.Length, state.UploadOffset,
                new MemoryStream(content) { Position = state.UploadOffset }, content.Length - state.UploadOffset, None);
            Assert.True((await worker.BeginArtifactAsync(task.WorkRequestId, declaration, None)).Complete);
        }
    }

    private static async Task<byte[]> DownloadAsync(KilnClient worker, Assignment task, string path)
    {
        using var copy = new MemoryStream();
        await worker.DownloadArtifactAsync(task.WorkRequestId, task.Attempt, path, 0, copy, None);
        return copy.ToArray();
    }
}
