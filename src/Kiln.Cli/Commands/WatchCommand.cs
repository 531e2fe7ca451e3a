using System.CommandLine;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln watch WORKFLOW…</c>: live progress until the workflows finish.</summary>
public static class WatchCommand
{
    public static Command Create()
    {
        var ids = new Argument<long[]>("workflow") { Description = "Workflow id(s)", Arity = ArgumentArity.OneOrMore };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("watch", "Follow workflows until they finish (exit code 0 only if all succeeded).") { ids, server, json };
        command.SetAction((parse, ct) =>
        {
            return CliRun.GuardAsync("watch", parse.GetValue(server), async url =>
            {
                using var client = new KilnClient(url);
                var views = await WorkflowWatcher.WatchAsync(client, parse.GetValue(ids)!, parse.GetValue(json), TimeProvider.System, ct);
                return WorkflowWatcher.ExitCode(views);
            });
        });
        return command;
    }
}
