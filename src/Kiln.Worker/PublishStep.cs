using System.Net;
using Kiln.Contracts;

namespace Kiln.Worker;

/// <summary>
/// A kind the server runs (<c>apt/publish</c>, <c>rpm/publish</c>): no process on the worker, one call that has the server
/// publish the artifacts of the job's needs (signing keys never leave it), its answer noted in the task's log.
/// </summary>
internal static class PublishStep
{
    public static bool Handles(Assignment task) => task.Execution?.Uses is "apt/publish" or "rpm/publish";

    public static async Task<TaskOutcome> RunAsync(KilnClient client, Assignment task, Action<string> note, CancellationToken ct)
    {
        note($"{task.Execution!.Uses}: asking the server to publish");
        try
        {
            var published = await client.PublishAsync(task.WorkRequestId, task.LeaseToken, ct);
            note($"published to {published.Repository}: snapshot {published.Snapshot}, {published.Added} file(s) added, {published.Unchanged} unchanged");
            note($"repository: {published.Url}");
            if (published.SourcesLine is { } line)
            {
                note($"sources.list: {line}");
            }
            return TaskOutcome.Succeeded();
        }
        catch (KilnApiException e) when (e.Status is HttpStatusCode.Conflict)
        {
            return TaskOutcome.Lost();
        }
        catch (KilnApiException e) when ((int)e.Status is >= 400 and < 500)
        {
            note($"the server refused to publish: {e.Message}");
            return TaskOutcome.Failed(1, $"publish refused: {e.Message}");
        }
        catch (Exception e) when (KilnClient.IsTransient(e, ct))
        {
            note($"publishing failed on the server's side: {e.Message}");
            return TaskOutcome.Error($"publish failed: {e.Message}");
        }
    }
}
