using System.Net;
using System.Security.Cryptography;
using Kiln.Contracts;

namespace Kiln.Worker;

/// <summary>
/// Moves files between a task's working directory and the server: the artifacts of the jobs it
/// needs into <c>inputs/&lt;job&gt;/</c>, and its outputs (files matching the job's globs) up.
/// Both resume where an interrupted transfer stopped (HTTP ranges down, upload offsets up), are
/// verified by SHA-256, and repeat transient failures until done.
/// Uploads give up when the server keeps answering errors (507: its storage is full) for
/// <c>uploadPatience</c>; the task then ends as an infrastructure error, retried elsewhere.
/// </summary>
internal sealed class ArtifactTransfer(KilnClient client, RetryPolicy retry, TimeSpan uploadPatience)
{
    /// <summary>Chunk per upload request; the server accepts up to 4 MiB.</summary>
    public const int UploadChunkBytes = 4 * 1024 * 1024;

    /// <summary>Downloads the artifacts of every needed job; returns how many files.</summary>
    public async Task<int> DownloadInputsAsync(Assignment task, string workDirectory, Action<string> note, CancellationToken ct)
    {
        var count = 0;
        foreach (var (job, workRequestId) in task.NeedsArtifacts.OrderBy(n => n.Key, StringComparer.Ordinal))
        {
            var list = await retry.UntilAcknowledgedAsync($"artifact list of {job}", c => client.ListArtifactsAsync(workRequestId, null, c), ct);
            var folder = Path.Combine(workDirectory, "inputs", job);
            Directory.CreateDirectory(folder);
            foreach (var artifact in list.Items)
            {
                OutputFiles.EnsureNoLinkOnTheWay(folder, artifact.Path);
                await retry.UntilAcknowledgedAsync($"download of {job}/{artifact.Path}",
                    c => client.DownloadArtifactIntoAsync(workRequestId, list.Attempt, artifact, folder, c), ct);
                count++;
            }
            note($"inputs/{job}/: {list.Items.Count} file(s) from work request {workRequestId}");
        }
        return count;
    }

    /// <summary>Uploads one output file; content the server already has is not sent again.</summary>
    public async Task UploadAsync(Assignment task, string workDirectory, string relativePath, CancellationToken ct)
    {
        // One handle, opened without following links, for hashing and sending: what is sent is what was checked.
        await using var file = OutputFiles.OpenOutput(workDirectory, relativePath);
        var size = file.Length;
        var sha256 = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
        var declaration = new ArtifactUploadRequest(task.LeaseToken, relativePath, sha256, size);
        for (var round = 1; ; round++)
        {
            if (round > 5)
            {
                throw new IOException($"the server did not record {relativePath} after its content was uploaded {round - 1} times");
            }
            var state = await retry.UntilAcknowledgedAsync($"declaration of {relativePath}", c => client.BeginArtifactAsync(task.WorkRequestId, declaration, c), ct, uploadPatience);
            if (state.Complete)
            {
                return;
            }
            var offset = state.UploadOffset;
            while (offset < size || size == 0)
            {
                file.Seek(offset, SeekOrigin.Begin);
                var length = Math.Min(UploadChunkBytes, size - offset);
                var from = offset;
                var answer = await retry.UntilAcknowledgedAsync($"upload of {relativePath}", c =>
                {
                    file.Seek(from, SeekOrigin.Begin);
                    return client.UploadArtifactContentAsync(task.WorkRequestId, task.LeaseToken, sha256, size, from, file, length, c);
                }, ct, uploadPatience);
                if (answer.UploadOffset <= offset && length > 0)
                {
                    throw new IOException($"the server did not take any of {relativePath} at offset {offset}");
                }
                offset = answer.UploadOffset;
                if (size == 0)
                {
                    break;
                }
            }
        }
    }

    /// <summary>A refusal that is the task's fault (too large, too many, bad path) rather than the farm's.</summary>
    public static bool IsTaskProblem(KilnApiException e) =>
        e.Status is HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity;
}
