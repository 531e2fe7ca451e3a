using System.CommandLine;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln explain REF</c>: why a job is not running, in words. For a whole workflow, the same
/// for each of its unfinished jobs (a few; the rest are counted).
/// </summary>
public static class ExplainCommand
{
    private const int JobsExplained = 5;

    public static Command Create()
    {
        var target = new Argument<string>("ref") { Description = JobReference.Help };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("explain", "Say why a job is waiting (or what it is doing).") { target, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("explain", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var reference = JobReference.Parse(parse.GetValue(target)!);
            List<long> ids;
            var more = 0;
            if (reference.IsWorkflow)
            {
                var workflow = await client.GetWorkflowAsync(await reference.WorkflowIdAsync(client, ct), ct);
                var jobs = workflow.Jobs ?? [];
                var unfinished = jobs.Where(j => j.State is "pending" or "blocked" or "running").ToList();
                // A finished workflow is explained by its failed jobs, if any, else by its last job.
                var chosen = unfinished.Count > 0 ? unfinished : jobs.Where(j => j.State is "failed" or "cancelled").ToList() is { Count: > 0 } bad ? bad : [.. jobs.TakeLast(1)];
                // Running and pending jobs first: they are the ones a user is waiting on.
                chosen = [.. chosen.OrderBy(j => j.State switch { "running" => 0, "pending" => 1, _ => 2 }).ThenBy(j => j.Id)];
                ids = [.. chosen.Take(JobsExplained).Select(j => j.Id)];
                more = chosen.Count - ids.Count;
                if (!parse.GetValue(json))
                {
                    Views.Line($"{Views.Headline(workflow)} — {Views.Progress(workflow.Counts)}");
                }
            }
            else
            {
                ids = [await reference.WorkRequestIdAsync(client, ct)];
            }
            var views = new List<ExplainView>();
            foreach (var id in ids)
            {
                views.Add(await client.ExplainAsync(id, ct));
            }
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(reference.IsWorkflow ? views : (object)views[0]);
                return 0;
            }
            foreach (var view in views)
            {
                AnsiConsole.MarkupLine($"[bold]{Markup.Escape(view.Name)}[/] (wr:{view.Id}) is {Views.State(view.State)}: {Markup.Escape(view.Summary)}");
                foreach (var reason in view.Reasons.Skip(1))
                {
                    AnsiConsole.MarkupLine($"  - {Markup.Escape(reason.Message)}");
                }
            }
            if (more > 0)
            {
                Views.Line($"… and {more} more unfinished job(s); explain one with kiln explain WORKFLOW/JOB");
            }
            return 0;
        }));
        return command;
    }
}
