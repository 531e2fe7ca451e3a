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
        return views;
    }

    private static async Task<IReadOnlyList<WorkflowView>> PollUntilDoneAsync(
        KilnClient client, IReadOnlyList<long> ids, Action<IReadOnlyList<WorkflowView>> show, TimeProvider time, CancellationToken ct)
    {
        while (true)
        {
            var views = new List<WorkflowView>(ids.Count);
            foreach (var id in ids)
            {
                views.Add(await client.GetWorkflowAsync(id, ct));
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
