using System.CommandLine;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln cancel</c> and <c>kiln retry</c>, of a whole workflow or one job.</summary>
public static class GraphActionCommands
{
    public static Command Cancel() => Create("cancel",
        "Cancel a workflow's unfinished jobs, or one job; running tasks are stopped within seconds.",
        (client, workflow, id, ct) => workflow ? client.CancelWorkflowAsync(id, ct) : client.CancelWorkRequestAsync(id, ct));

    public static Command Retry() => Create("retry",
        "Re-run what failed, was skipped or cancelled in a workflow (or one job and what it caused to be skipped); succeeded work is kept.",
        (client, workflow, id, ct) => workflow ? client.RetryWorkflowAsync(id, ct) : client.RetryWorkRequestAsync(id, ct));

    private static Command Create(string name, string description, Func<KilnClient, bool, long, CancellationToken, Task<ActionResponse>> act)
    {
        var target = new Argument<string>("ref") { Description = JobReference.Help };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command(name, description) { target, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync(name, parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var reference = JobReference.Parse(parse.GetValue(target)!);
            var id = reference.IsWorkflow ? await reference.WorkflowIdAsync(client, ct) : await reference.WorkRequestIdAsync(client, ct);
            return CliRun.PrintAction(await act(client, reference.IsWorkflow, id, ct), parse.GetValue(json));
        }));
        return command;
    }
}
