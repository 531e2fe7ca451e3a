using System.CommandLine;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln watch WORKFLOW… [--timeout SECONDS]</c>: live progress until the workflows finish, or the watcher gives up.</summary>
public static class WatchCommand
{
    /// <summary>The exit code when <c>--timeout</c> expires: distinct from a failed workflow (1), which has finished.</summary>
    public const int TimedOutExitCode = 4;

    public static Command Create()
    {
        var ids = new Argument<string[]>("workflow") { Description = "Workflow(s): an id, or 'last' for the newest", Arity = ArgumentArity.OneOrMore };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var timeout = new Option<int?>("--timeout") { Description = "Stop watching after SECONDS (exit code 4); the workflows keep running" };
        timeout.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is { } seconds && (seconds < 1 || seconds > 7 * 24 * 3600))
            {
                result.AddError("--timeout: give 1 to 604800 seconds");
            }
        });
        var command = new Command("watch", "Follow workflows until they finish (exit code 0 only if all succeeded).") { ids, timeout, server, json };
        command.SetAction((parse, ct) =>
        {
            return CliRun.GuardAsync("watch", parse.GetValue(server), async url =>
            {
                using var client = ClientSettings.Connect(url);
                var workflows = new List<long>();
                foreach (var text in parse.GetValue(ids)!)
                {
                    var reference = JobReference.Parse(text);
                    workflows.Add(reference.IsWorkflow ? await reference.WorkflowIdAsync(client, ct) : throw new CliException($"'{text}' names a job; watch follows whole workflows (e.g. kiln watch 7)", 2));
                }
                if (parse.GetValue(timeout) is not { } seconds)
                {
                    return WorkflowWatcher.ExitCode(await WorkflowWatcher.WatchAsync(client, workflows, parse.GetValue(json), TimeProvider.System, ct));
                }
                using var expiry = new CancellationTokenSource(TimeSpan.FromSeconds(seconds), TimeProvider.System);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, expiry.Token);
                try
                {
                    return WorkflowWatcher.ExitCode(await WorkflowWatcher.WatchAsync(client, workflows, parse.GetValue(json), TimeProvider.System, linked.Token));
                }
                catch (OperationCanceledException) when (expiry.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    var which = string.Join(", ", workflows);
                    throw new CliException(
                        $"gave up after {seconds} s: workflow {which} has not finished and keeps running (follow it again: kiln watch {which})",
                        TimedOutExitCode);
                }
            });
        });
        return command;
    }
}
