using System.CommandLine;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln watch WORKFLOW…</c>: live progress until the workflows finish.</summary>
public static class WatchCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("workflow") { Description = "Workflow(s): an id, or 'last' for the newest", Arity = ArgumentArity.OneOrMore };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("watch", "Follow workflows until they finish (exit code 0 only if all succeeded).") { ids, server, json };
        command.SetAction((parse, ct) =>
        {
            return CliRun.GuardAsync("watch", parse.GetValue(server), async url =>
            {
                using var client = new KilnClient(url);
                var workflows = new List<long>();
                foreach (var text in parse.GetValue(ids)!)
                {
                    var reference = JobReference.Parse(text);
                    workflows.Add(reference.IsWorkflow ? await reference.WorkflowIdAsync(client, ct) : throw new CliException($"'{text}' names a job; watch follows whole workflows (e.g. kiln watch 7)", 2));
                }
                var views = await WorkflowWatcher.WatchAsync(client, workflows, parse.GetValue(json), TimeProvider.System, ct);
                return WorkflowWatcher.ExitCode(views);
            });
        });
        return command;
    }
}
