using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Kiln.Cli.Commands;

/// <summary>
/// Follows workflows until they finish. In a terminal: a live view with a progress bar and a
/// table of job states. Otherwise (piped, CI): one line per job state change. With JSON: quiet
/// until the end, then the final views.
/// </summary>
public static class WorkflowWatcher
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    public static async Task<IReadOnlyList<WorkflowView>> WatchAsync(KilnClient client, IReadOnlyList<long> ids, bool json, TimeProvider time, CancellationToken ct)
    {
        IReadOnlyList<WorkflowView> views;
        if (json)
        {
            views = await PollUntilDoneAsync(client, ids, _ => { }, time, ct);
            CliRun.PrintJson(views.Count == 1 ? views[0] : (object)views);
            return views;
        }
        if (AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
        {
            IReadOnlyList<WorkflowView> last = [];
            await AnsiConsole.Live(new Text("")).AutoClear(false).StartAsync(async live =>
            {
                last = await PollUntilDoneAsync(client, ids, current => { live.UpdateTarget(Render(current, time.GetUtcNow())); live.Refresh(); }, time, ct);
            });
            await ReportFailuresAsync(client, last, ct);
            return last;
        }
        var seen = new Dictionary<long, string>();
        views = await PollUntilDoneAsync(client, ids, current =>
        {
            foreach (var workflow in current)
            {
                foreach (var job in workflow.Jobs ?? [])
                {
                    var state = $"{job.State}/{job.Attempt}";
                    if (seen.TryGetValue(job.Id, out var before) && before == state)
                    {
                        continue;
                    }
                    seen[job.Id] = state;
                    var attempt = job.Attempt > 1 ? $" (attempt {job.Attempt})" : "";
                    Console.Out.WriteLine($"{time.GetLocalNow():HH:mm:ss} workflow {workflow.Id} {job.Name}: {job.State}{attempt}");
                }
            }
        }, time, ct);
        foreach (var workflow in views)
        {
            var c = workflow.Counts;
            Console.Out.WriteLine($"workflow {workflow.Id} '{workflow.Name}' {workflow.State}: {c.Succeeded} succeeded, {c.Failed} failed, {c.Skipped} skipped, {c.Cancelled} cancelled"
                + $" in {Views.Duration(workflow.CreatedAt, workflow.FinishedAt, time.GetUtcNow())}");
        }
        await ReportFailuresAsync(client, views, ct);
        return views;
    }

    private const int FailedJobsShown = 3;
    private const int TailLines = 10;
    private const int TailBytes = 8 * 1024;

    /// <summary>
    /// For a workflow that did not succeed: which jobs failed and the end of each one's log, so
    /// that the reason is on screen (and in a CI log) without a second command.
    /// </summary>
    private static async Task ReportFailuresAsync(KilnClient client, IReadOnlyList<WorkflowView> views, CancellationToken ct)
    {
        foreach (var workflow in views.Where(v => v.State != "succeeded"))
        {
            var failed = (workflow.Jobs ?? []).Where(j => j.State == "failed").ToList();
            foreach (var job in failed.Take(FailedJobsShown))
            {
                var detail = await client.GetWorkRequestAsync(job.Id, ct);
                var message = detail.Attempts.Count > 0 ? detail.Attempts[^1].Message : null;
                Console.Out.WriteLine($"failed: {workflow.Id}/{job.Name} (attempt {job.Attempt}{(message is null ? "" : $": {message}")}); last lines of its log (kiln logs {workflow.Id}/{job.Name}):");
                foreach (var line in await LogTailAsync(client, job.Id, ct))
                {
                    Console.Out.WriteLine($"  | {line}");
                }
            }
            if (failed.Count > FailedJobsShown)
            {
                Console.Out.WriteLine($"… and {failed.Count - FailedJobsShown} more failed job(s): kiln show {workflow.Id} --state failed");
            }
        }
    }

    private static async Task<IReadOnlyList<string>> LogTailAsync(KilnClient client, long id, CancellationToken ct)
    {
        var size = (await client.ReadLogAsync(id, null, long.MaxValue / 2, 0, Stream.Null, ct)).Size;
        using var buffer = new MemoryStream();
        await client.ReadLogAsync(id, null, Math.Max(0, size - TailBytes), 0, buffer, ct);
        var lines = System.Text.Encoding.UTF8.GetString(buffer.ToArray()).TrimEnd('\n').Split('\n');
        return lines.Length == 1 && lines[0].Length == 0 ? ["(the log is empty)"] : lines[^Math.Min(TailLines, lines.Length)..];
    }

    private static async Task<IReadOnlyList<WorkflowView>> PollUntilDoneAsync(
        KilnClient client, IReadOnlyList<long> ids, Action<IReadOnlyList<WorkflowView>> show, TimeProvider time, CancellationToken ct)
    {
        while (true)
        {
            var views = new List<WorkflowView>(ids.Count);
            try
            {
                foreach (var id in ids)
                {
                    views.Add(await client.GetWorkflowAsync(id, ct));
                }
            }
            catch (KilnApiException e) when (e.Status == System.Net.HttpStatusCode.TooManyRequests)
            {
                // Watching many workflows can outrun the token's rate limit: wait as told, then look again.
                await Task.Delay(e.RetryAfter ?? PollInterval, time, ct);
                continue;
            }
            show(views);
            if (views.All(v => v.State != "running"))
            {
                return views;
            }
            await Task.Delay(PollInterval, time, ct);
        }
    }

    private static Rows Render(IReadOnlyList<WorkflowView> views, DateTimeOffset now)
    {
        var parts = new List<IRenderable>();
        foreach (var w in views)
        {
            parts.Add(new Markup($"{Views.Headline(w)}  {Views.Duration(w.CreatedAt, w.FinishedAt, now)}"));
            parts.Add(new Markup(Views.Progress(w.Counts)));
            parts.Add(Views.Jobs(w, now));
        }
        parts.Add(new Markup($"[grey]{now.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture)} · logs: kiln logs WORKFLOW/JOB -f[/]"));
        return new Rows(parts);
    }

    /// <summary>0 when every workflow succeeded, 1 otherwise.</summary>
    public static int ExitCode(IReadOnlyList<WorkflowView> views) => views.All(v => v.State == "succeeded") ? 0 : 1;
}
