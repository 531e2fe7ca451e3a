using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln workers</c>: registered workers, what they offer and how busy they are.</summary>
public static class WorkersCommand
{
    public static Command Create()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("workers", "List registered workers.") { server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("workers", parse.GetValue(server), async url =>
        {
            using var client = new KilnClient(url);
            var workers = new List<WorkerView>();
            string? after = null;
            do
            {
                var page = await client.ListWorkersAsync(500, after, ct);
                workers.AddRange(page.Items);
                after = page.Next;
            }
            while (after is not null);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(workers);
                return 0;
            }
            var now = TimeProvider.System.GetUtcNow();
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "name", "architectures", "queues", "tags", "running", "last seen");
            foreach (var w in workers)
            {
                table.AddRow(w.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(w.Name), Markup.Escape(string.Join(",", w.Architectures)),
                    Markup.Escape(string.Join(",", w.Queues)), Markup.Escape(string.Join(",", w.Tags)), $"{w.Running}/{w.Slots}",
                    $"{Views.Duration(w.LastSeenAt, now, now)} ago");
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }
}
