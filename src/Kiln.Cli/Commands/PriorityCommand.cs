using System.CommandLine;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln priority REF N</c>: re-prioritise waiting work (a job: set; a workflow: adjust).</summary>
public static class PriorityCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("ref") { Description = JobReference.Help };
        var value = new Argument<int>("priority") { Description = "For a job, its new priority; for a workflow, the amount to add to each waiting job (may be negative)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("priority", "Re-prioritise waiting work: set a job's priority, or shift a whole workflow's.") { target, value, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("priority", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var reference = JobReference.Parse(parse.GetValue(target)!);
            var answer = reference.IsWorkflow
                ? await client.AdjustWorkflowPriorityAsync(await reference.WorkflowIdAsync(client, ct), parse.GetValue(value), ct)
                : await client.SetPriorityAsync(await reference.WorkRequestIdAsync(client, ct), parse.GetValue(value), ct);
            return CliRun.PrintAction(answer, parse.GetValue(json));
        }));
        return command;
    }
}
