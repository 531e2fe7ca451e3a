using System.Globalization;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary>
/// How every command names things (docs/cli.md, "Naming things"): <c>7</c> is workflow 7 and
/// <c>last</c> the newest workflow; <c>7/build</c> is the job <c>build</c> of workflow 7 and
/// <c>7/build[amd64]</c> one matrix entry of it; <c>wr:41</c> is work request 41 (the id column
/// of <c>kiln show</c>). A bare number is always a workflow, whatever the command.
/// </summary>
public sealed record JobReference(long? WorkflowId, string? Job, long? WorkRequest)
{
    public const string Help = "WORKFLOW (7, or 'last'), WORKFLOW/JOB (7/build, 7/build[amd64]) or wr:ID (a work request id)";

    public const string LastWorkflow = "last";

    private const string WorkRequestPrefix = "wr:";

    /// <summary>True when the reference names a whole workflow rather than one job.</summary>
    public bool IsWorkflow => Job is null && WorkRequest is null;

    public static JobReference Parse(string text)
    {
        if (text.StartsWith(WorkRequestPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return long.TryParse(text.AsSpan(WorkRequestPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var wr) && wr > 0
                ? new JobReference(null, null, wr)
                : throw new CliException($"'{text}' is not a work request reference; write wr:ID, e.g. wr:41", 2);
        }
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var idText = slash < 0 ? text : text[..slash];
        long? id;
        if (idText == LastWorkflow)
        {
            id = null;
        }
        else if (long.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed > 0)
        {
            id = parsed;
        }
        else
        {
            throw new CliException($"'{text}' is not a reference; use {Help}", 2);
        }
        var job = slash < 0 ? null : text[(slash + 1)..];
        if (job is { Length: 0 })
        {
            throw new CliException($"'{text}' names no job after the '/'", 2);
        }
        return new JobReference(id, job, null);
    }

    /// <summary>The workflow meant (for <c>last</c>, the newest one on the farm).</summary>
    public async Task<long> WorkflowIdAsync(KilnClient client, CancellationToken ct)
    {
        if (WorkRequest is { } wr)
        {
            return (await client.GetWorkRequestAsync(wr, ct)).Summary.WorkflowId;
        }
        if (WorkflowId is { } id)
        {
            return id;
        }
        var newest = await client.ListWorkflowsAsync(null, null, 1, null, ct);
        return newest.Items.Count > 0 ? newest.Items[0].Id : throw new CliException("'last' names the newest workflow, but the farm has none yet; submit one with 'kiln submit FILE'");
    }

    /// <summary>
    /// The one work request meant: <c>wr:ID</c> itself, the job of the workflow, or — for a bare
    /// workflow — its only job (a workflow of several jobs is refused with their references).
    /// </summary>
    public async Task<long> WorkRequestIdAsync(KilnClient client, CancellationToken ct)
    {
        if (WorkRequest is { } wr)
        {
            return wr;
        }
        var workflowId = await WorkflowIdAsync(client, ct);
        var workflow = await client.GetWorkflowAsync(workflowId, ct);
        var jobs = workflow.Jobs ?? [];
        if (Job is null)
        {
            return jobs.Count == 1
                ? jobs[0].Id
                : throw new CliException($"workflow {workflowId} has {jobs.Count} jobs; name one: {Names(workflowId, jobs)}", 2);
        }
        if (jobs.FirstOrDefault(j => j.Name == Job) is { } exact)
        {
            return exact.Id;
        }
        var expanded = jobs.Where(j => j.Name.StartsWith(Job + "[", StringComparison.Ordinal)).ToList();
        return expanded.Count switch
        {
            1 => expanded[0].Id,
            0 => throw new CliException($"workflow {workflowId} has no job '{Job}'; its jobs: {Names(workflowId, jobs)}"),
            _ => throw new CliException($"'{Job}' is a matrix job; name one of: {Names(workflowId, expanded)}"),
        };
    }

    private static string Names(long workflowId, IReadOnlyList<WorkRequestSummary> jobs) =>
        string.Join(", ", jobs.Take(10).Select(j => $"{workflowId}/{j.Name}")) + (jobs.Count > 10 ? $", … ({jobs.Count - 10} more)" : "");
}
