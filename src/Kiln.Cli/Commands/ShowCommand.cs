using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln show 7</c> (a workflow and its jobs) or <c>kiln show 7/build</c> (a job: attempts,
/// artifacts). A workflow of more than <see cref="JobsListed"/> jobs is summarised by job and
/// state (a 10,000-entry matrix is not 10,000 lines); <c>--all</c> lists every job and
/// <c>--state</c> only those in one state.
/// </summary>
public static class ShowCommand
{
    public const int JobsListed = 50;

    private static readonly string[] States = ["pending", "blocked", "running", "succeeded", "failed", "skipped", "cancelled"];

    public static Command Create()
    {
        var target = new Argument<string>("ref") { Description = JobReference.Help };
        var all = new Option<bool>("--all") { Description = $"List every job, even when there are more than {JobsListed}" };
        var state = new Option<string?>("--state") { Description = "List only jobs in this state (" + string.Join(", ", States) + ")" };
        state.AcceptOnlyFromAmong(States);
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("show", "Show a workflow and its jobs, or one job with its attempts and artifacts.") { target, all, state, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("show", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var reference = JobReference.Parse(parse.GetValue(target)!);
            var asJson = parse.GetValue(json);
            if (reference.IsWorkflow)
            {
                var workflow = await client.GetWorkflowAsync(await reference.WorkflowIdAsync(client, ct), ct);
                if (asJson)
                {
                    CliRun.PrintJson(workflow);
                    return 0;
                }
                var now = TimeProvider.System.GetUtcNow();
                Views.Line(Views.Headline(workflow));
                Views.Line($"created {Views.Time(workflow.CreatedAt)}" + (workflow.FinishedAt is { } f ? $", finished {Views.Time(f)} ({Views.Duration(workflow.CreatedAt, f, now)})" : ""));
                Views.Line(Views.Progress(workflow.Counts));
                ResultLines.Regressions(workflow.Regressions);
                var only = parse.GetValue(state);
                var jobs = (workflow.Jobs ?? []).Where(j => only is null || j.State == only).ToList();
                if (jobs.Count > JobsListed && !parse.GetValue(all))
                {
                    AnsiConsole.Write(Views.JobGroups(jobs, States));
                    Views.Line($"[grey]{jobs.Count} jobs, summarised by job; list them with kiln show {workflow.Id} --all, or only some with --state failed (or another state)[/]");
                }
                else
                {
                    AnsiConsole.Write(Views.Jobs(workflow with { Jobs = jobs }, now));
                }
                return 0;
            }
            var id = await reference.WorkRequestIdAsync(client, ct);
            var job = await client.GetWorkRequestAsync(id, ct);
            var artifacts = await client.ListArtifactsAsync(id, null, ct);
            if (asJson)
            {
                CliRun.PrintJson(new { workRequest = job, artifacts });
                return 0;
            }
            ShowJob(job, artifacts);
            return 0;
        }));
        return command;
    }

    private static void ShowJob(WorkRequestView job, ArtifactList artifacts)
    {
        var s = job.Summary;
        Views.Line($"Job [bold]{Markup.Escape(s.Name)}[/] (work request {s.Id}) of workflow {s.WorkflowId}: {Views.State(s.State)}" + (job.CancelRequested ? " [darkorange](cancel requested)[/]" : ""));
        Views.Line($"queue {Markup.Escape(s.Queue)}, architecture {Markup.Escape(s.Architecture ?? "any")}, tags [[{Markup.Escape(string.Join(", ", job.Tags))}]], timeout {job.TimeoutSeconds} s, up to {job.MaxAttempts} attempt(s)"
            + (job.NotBefore is { } nb ? $", next attempt not before {Views.Time(nb)}" : ""));
        var attempts = new Table().Border(TableBorder.Rounded).AddColumns("attempt", "worker", "started", "took", "outcome", "exit", "message");
        foreach (var a in job.Attempts)
        {
            attempts.AddRow(a.Attempt.ToString(CultureInfo.InvariantCulture), Markup.Escape(a.WorkerName ?? "-"), Views.Time(a.StartedAt),
                Views.Duration(a.StartedAt, a.FinishedAt, a.FinishedAt), Views.State(a.Outcome),
                a.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "", Markup.Escape(a.Message ?? ""));
        }
        if (s.State == "running")
        {
            attempts.AddRow(s.Attempt.ToString(CultureInfo.InvariantCulture), Markup.Escape(job.WorkerName ?? "-"), Views.Time(s.StartedAt), Views.Duration(s.StartedAt, null, TimeProvider.System.GetUtcNow()), Views.State("running"), "", "");
        }
        ResultLines.Execution(job.Execution);
        AnsiConsole.Write(attempts);
        ResultLines.Result(job.Result);
        if (artifacts.Items.Count > 0)
        {
            var table = new Table().Border(TableBorder.Rounded).Title($"artifacts of attempt {artifacts.Attempt}").AddColumns("path", "size", "sha256");
            foreach (var a in artifacts.Items)
            {
                table.AddRow(Markup.Escape(a.Path), Views.Bytes(a.Size), a.Sha256[..16] + "…");
            }
            AnsiConsole.Write(table);
        }
        Views.Line($"[grey]log: kiln logs wr:{s.Id}[/]");
    }
}
