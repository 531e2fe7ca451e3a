using System.CommandLine;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln worker disable|enable|approve|remove NAME</c>: block a worker (its secret is refused and its
/// running work handed back uncharged), let it register again, let a worker of a pool that
/// requires approval in, or retire it from the lists.
/// </summary>
public static class WorkerOperatorCommands
{
    public static Command Disable() => Create("disable",
        "Disable a worker: its secret stops working, it gets no more work and may not register again; its running work goes back to the queue uncharged.",
        (client, name, ct) => client.DisableWorkerAsync(name, ct));

    public static Command Enable() => Create("enable",
        "Enable a disabled worker: it may register again (restart it to get a new secret).",
        (client, name, ct) => client.EnableWorkerAsync(name, ct));

    public static Command Approve() => Create("approve",
        "Approve a worker of a pool that requires approval: it gets work from its next claim.",
        (client, name, ct) => client.ApproveWorkerAsync(name, ct));

    public static Command Remove() => Create("remove",
        "Remove a worker that runs nothing from 'kiln workers' (its attempts keep its name); disable it first to hand its work back.",
        (client, name, ct) => client.RemoveWorkerAsync(name, ct));

    private static Command Create(string verb, string description, Func<KilnClient, string, CancellationToken, Task<ActionResponse>> act)
    {
        var name = new Argument<string>("name") { Description = "The worker's name (see kiln workers)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command(verb, description) { name, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync($"worker {verb}", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await act(client, parse.GetValue(name)!, ct), parse.GetValue(json));
        }));
        return command;
    }
}
