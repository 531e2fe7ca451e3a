using System.CommandLine;
using System.Globalization;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln events reconcile LINK</c>: ask the forge what Kiln missed of a repository link and feed it in (docs/webhooks.md, "Reconcile").</summary>
public static class EventsReconcileCommand
{
    public static Command Create()
    {
        var link = new Argument<long>("link") { Description = "The repository link's id (kiln repo list PROJECT)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("reconcile", "Ask the forge for what Kiln has not seen (GitHub: redeliver missed deliveries; all: branch and tag heads) and feed it in.") { link, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("events reconcile", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var report = await client.ReconcileAsync(parse.GetValue(link), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(report);
                return 0;
            }
            Console.Out.WriteLine($"link {report.LinkId}: {report.Message}");
            foreach (var guid in report.Redelivered)
            {
                Console.Out.WriteLine($"  redelivered {guid}");
            }
            foreach (var fed in report.Fed)
            {
                Console.Out.WriteLine($"  {fed.Ref} at {fed.Sha[..Math.Min(12, fed.Sha.Length)]}: event {fed.EventId.ToString(CultureInfo.InvariantCulture)}{(fed.Duplicate ? " (fed before)" : "")}");
            }
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// <c>kiln events</c> with only <c>reconcile</c>: the events command (list, show, pause, resume) is
    /// another part's; when both are in, theirs adds <see cref="Create"/> and this goes.
    /// </summary>
}
