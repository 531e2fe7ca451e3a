using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.Worker;

/// <summary>
/// A kind's structured result, the JSON its script wrote to <c>$KILN_RESULT_FILE</c>: read without following
/// links (the job could point it at any file the worker can read), at most <see cref="MaxBytes"/>, and uploaded
/// before outputs and the report; the server's verdict can fail an attempt its exit code passed.
/// </summary>
internal static class ResultFile
{
    public const string Name = "result.json";
    public const int MaxBytes = 256 * 1024;

    /// <returns>Why the attempt fails because of its result (too large, not JSON, the server's verdict), or null.</returns>
    public static async Task<string?> UploadAsync(KilnClient client, RetryPolicy retry, Assignment task, string directory, TimeSpan patience, Action<string> note, CancellationToken ct)
    {
        var info = new FileInfo(Path.Combine(directory, Name));
        if (!info.Exists && info.LinkTarget is null)
        {
            return null;
        }
        JsonElement json;
        try
        {
            await using var stream = OutputFiles.OpenOutput(directory, Name);
            if (stream.Length > MaxBytes)
            {
                return $"the result file ($KILN_RESULT_FILE) has {stream.Length} bytes; at most {MaxBytes} are accepted";
            }
            using var document = await JsonDocument.ParseAsync(stream, cancellationToken: ct);
            json = document.RootElement.Clone();
        }
        catch (OutputRefusedException e)
        {
            return $"the result file was refused: {e.Message}";
        }
        catch (JsonException e)
        {
            return $"the result file ($KILN_RESULT_FILE) is not valid JSON: {e.Message}";
        }
        try
        {
            var verdict = await retry.UntilAcknowledgedAsync("result upload",
                c => client.PutResultAsync(task.WorkRequestId, new ResultUpload(task.LeaseToken, json), c), ct, patience);
            note(verdict.Fail ? $"result uploaded; the server's verdict: fail ({verdict.Message})" : "result uploaded");
            return verdict.Fail ? verdict.Message ?? "the result says the job failed" : null;
        }
        catch (KilnApiException e) when (ArtifactTransfer.IsTaskProblem(e))
        {
            return $"the result was refused: {e.Message}";
        }
    }
}
