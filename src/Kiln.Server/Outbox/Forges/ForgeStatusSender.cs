using System.Globalization;
using System.Text;
using Kiln.Contracts;
using Kiln.Server.Hosting;
using Kiln.Store.Engine;
using Kiln.Store.Events;
using Kiln.Store.Outbox;

namespace Kiln.Server.Outbox.Forges;

/// <summary>
/// The outbox's sender for forge targets (summary, job, group): reads the link's credentials and
/// the workflow as it is now, says it in one line and a Markdown summary (<see cref="StatusWrite"/>),
/// and hands it to the forge's <see cref="IForgeStatusWriter"/>.
/// </summary>
public sealed class ForgeStatusSender(
    RepositoryLinkStore links, QueryStore queries, IEnumerable<IForgeStatusWriter> writers, KilnServerOptions options) : IOutboxSender
{
    /// <summary>A summary lists at most this many jobs (the rest are counted).</summary>
    public const int SummaryJobs = 50;

    private readonly Dictionary<string, IForgeStatusWriter> _writers = writers.ToDictionary(w => w.Forge, StringComparer.Ordinal);

    public bool Handles(string kind) => kind is "summary" or "job" or "group";

    public async Task<SendAnswer> SendAsync(OutboxItem item, CancellationToken ct)
    {
        if (item.LinkId is not { } linkId || await links.ForReconcileAsync(linkId, ct) is not { } link)
        {
            return new SendAnswer(SendOutcome.Failed, null, "the repository link of this status was removed");
        }
        if (!_writers.TryGetValue(link.Forge, out var writer))
        {
            return new SendAnswer(SendOutcome.Failed, null, $"this server reports no statuses to {link.Forge}");
        }
        if (item.WorkflowId is not { } workflowId || await queries.GetWorkflowAsync(workflowId, ct) is not { } workflow)
        {
            return new SendAnswer(SendOutcome.Failed, null, "the workflow of this status no longer exists");
        }
        var jobs = await queries.ListWorkRequestsAsync(new WorkRequestFilter(workflowId, null, null, null), null, SummaryJobs, ct);
        var targetUrl = $"{options.PublicBaseUrl.TrimEnd('/')}/api/v1/workflows/{workflowId}";
        var write = new StatusWrite(
            item.TargetId, item.Channel, link.Forge, link.ApiUrl ?? DefaultApi(link.Forge), link.Repository, link.Token, link.InstallationId,
            item.Sha ?? "", item.Context ?? "kiln", item.Kind, item.Desired, Describe(item, workflow), Summary(workflow, jobs.Items, targetUrl),
            targetUrl, item.RemoteId, $"kiln-target-{item.TargetId}");
        return await writer.WriteAsync(write, ct);
    }

    private static string DefaultApi(string forge) => forge == EventSources.GitHub ? "https://api.github.com" : "";

    /// <summary>One line, at most 140 characters.</summary>
    public static string Describe(OutboxItem item, WorkflowView workflow)
    {
        var c = workflow.Counts;
        var line = item.Kind switch
        {
            "summary" => item.Desired switch
            {
                "waiting" => $"Accepted by Kiln: workflow {workflow.Id}, {c.Total} job(s) queued",
                "held" => $"Held by Kiln's storm guard: an admin approves it (kiln held approve {workflow.Id})",
                "queued" => $"Queued behind its concurrency group",
                "running" => $"Running: {c.Succeeded + c.Failed + c.Skipped + c.Cancelled} of {c.Total} job(s) done",
                "succeeded" => $"Succeeded: {c.Total} job(s)",
                "failed" => $"Failed: {c.Failed} of {c.Total} job(s) failed",
                "superseded" => "Superseded by a newer workflow",
                _ => $"{Capital(item.Desired)}: {c.Cancelled + c.Skipped} of {c.Total} job(s) did not run",
            },
            _ => item.Desired switch
            {
                "queued" => "Queued",
                "running" => "Running",
                _ => Capital(item.Desired),
            },
        };
        return line.Length > 140 ? line[..140] : line;
    }

    /// <summary>The check run's summary: state, counts, and a table of the jobs with links.</summary>
    public static string Summary(WorkflowView workflow, IReadOnlyList<WorkRequestSummary> jobs, string targetUrl)
    {
        var c = workflow.Counts;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"**{workflow.Name}** — workflow [{workflow.Id}]({targetUrl}) is **{workflow.State}**: ");
        text.Append(CultureInfo.InvariantCulture, $"{c.Succeeded} succeeded, {c.Failed} failed, {c.Skipped + c.Cancelled} did not run, of {c.Total}.\n\n");
        text.Append("| Job | State | Attempt |\n|---|---|---|\n");
        foreach (var job in jobs)
        {
            text.Append(CultureInfo.InvariantCulture, $"| `{job.Name.Replace("|", "\\|", StringComparison.Ordinal)}` | {job.State} | {job.Attempt} |\n");
        }
        if (c.Total > jobs.Count)
        {
            text.Append(CultureInfo.InvariantCulture, $"\n…and {c.Total - jobs.Count} more (`kiln show {workflow.Id}`).\n");
        }
        return text.ToString();
    }

    private static string Capital(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
