using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Engine;
using Kiln.Store.Secrets;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Security;

/// <summary>
/// Puts the secrets a claimed job names into its assignment (<see cref="Assignment.Secrets"/>), on
/// the claim answer and on its idempotent repeat. The claim itself only hands such work to pools the
/// project trusts; this is the second line: a worker whose pool the project does not trust gets no
/// secret, and neither does one whose secret is gone or does not open — that attempt ends at once as
/// an infrastructure error (so the job is retried, elsewhere) with a message naming the secret, never
/// its value, and the assignment is left out of the answer.
/// </summary>
public sealed partial class SecretHandout(SecretStore secrets, ReportStore reports, ILogger<SecretHandout> logger)
{
    public async Task<IReadOnlyList<Assignment>> AttachAsync(WorkerIdentity worker, IReadOnlyList<Assignment> assignments, CancellationToken ct)
    {
        // Most claims hand out no job that names a secret: they cost nothing more here.
        if (!assignments.Any(a => a.SecretNames is { Count: > 0 }))
        {
            return assignments;
        }
        // One statement for the batch; work requests that name no secret are not in its answer.
        var found = await secrets.ClaimSecretsAsync(worker.Id, [.. assignments.Where(a => a.SecretNames is { Count: > 0 }).Select(a => a.WorkRequestId)], ct);
        if (found.Count == 0)
        {
            return assignments;
        }
        var handed = new List<Assignment>(assignments.Count);
        foreach (var assignment in assignments)
        {
            if (!found.TryGetValue(assignment.WorkRequestId, out var named))
            {
                handed.Add(assignment);
            }
            else if (named.Values is { } values)
            {
                handed.Add(assignment with { Secrets = values });
            }
            else
            {
                LogRefused(logger, assignment.WorkRequestId, worker.Name, named.Refusal!);
                await reports.ReportAsync(worker.Id, assignment.WorkRequestId, assignment.LeaseToken, AttemptEnd.Error, null, named.Refusal, ct);
            }
        }
        return handed;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work request {WorkRequestId} was claimed by worker {Worker} without its secrets, and its attempt failed: {Reason}")]
    private static partial void LogRefused(ILogger logger, long workRequestId, string worker, string reason);
}
