using System.Globalization;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary>
/// How commands name things: <c>7</c> is workflow 7 (or, where only a job makes sense, work
/// request 7), <c>7/build</c> its job <c>build</c>, <c>7/build[amd64]</c> one matrix entry of it.
/// </summary>
public sealed record JobReference(long Id, string? Job)
{
    public const string Help = "WORKFLOW (e.g. 7) or WORKFLOW/JOB (e.g. 7/build[amd64])";

    public static JobReference Parse(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var idText = slash < 0 ? text : text[..slash];
        if (!long.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            throw new CliException($"'{text}' is not a reference; use {Help}", 2);
        }
        var job = slash < 0 ? null : text[(slash + 1)..];
        if (job is { Length: 0 })
        {
            throw new CliException($"'{text}' names no job after the '/'", 2);
        }
        return new JobReference(id, job);
    }

    /// <summary>The work request meant: the job of the workflow, or (without a job) work request <see cref="Id"/> itself.</summary>
    public async Task<long> WorkRequestIdAsync(KilnClient client, CancellationToken ct)
    {
        if (Job is null)
        {
            return Id;
        }
        var workflow = await client.GetWorkflowAsync(Id, ct);
        var jobs = workflow.Jobs ?? [];
        if (jobs.FirstOrDefault(j => j.Name == Job) is { } exact)
        {
            return exact.Id;
        }
        var expanded = jobs.Where(j => j.Name.StartsWith(Job + "[", StringComparison.Ordinal)).ToList();
        return expanded.Count switch
        {
            1 => expanded[0].Id,
            0 => throw new CliException($"workflow {Id} has no job '{Job}'; its jobs: {string.Join(", ", jobs.Select(j => j.Name))}"),
            _ => throw new CliException($"'{Job}' is a matrix job; name one of: {string.Join(", ", expanded.Select(j => $"{Id}/{j.Name}"))}"),
        };
    }
}
