using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln workers</c>: registered workers, what they offer and how busy they are. A worker not
/// heard from for <see cref="OnlineWindow"/> is offline (it polls at least every 15 s); offline
/// workers not seen for <see cref="HiddenAfter"/> are left out unless <c>--all</c>.
/// </summary>
public static class WorkersCommand
{
    public static readonly TimeSpan OnlineWindow = TimeSpan.FromSeconds(90);

    public static readonly TimeSpan HiddenAfter = TimeSpan.FromHours(1);

    public static Command Create()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var all = new Option<bool>("--all") { Description = "Also list workers offline for more than an hour" };
        var command = new Command("workers", "List registered workers (online, and offline ones seen within the last hour).") { all, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("workers", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var workers = await CliRun.AllPagesAsync(after => client.ListWorkersAsync(500, after, ct));
            var now = TimeProvider.System.GetUtcNow();
            var shown = parse.GetValue(all) ? workers : [.. workers.Where(w => now - w.LastSeenAt <= HiddenAfter)];
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(shown);
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "name", "pool", "status", "architectures", "queues", "tags", "running", "last seen");
            foreach (var w in shown)
            {
                var online = now - w.LastSeenAt <= OnlineWindow;
                var status = w.DisabledAt is not null ? "[red]disabled[/]"
                    : w.ApprovedAt is null && w.Pool is not null ? "[yellow]awaiting approval[/]"
                    : online ? "[green]online[/]" : "[grey]offline[/]";
                table.AddRow(w.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(w.Name), Markup.Escape(w.Pool ?? "-"), status,
                    Markup.Escape(string.Join(",", w.Architectures)), Markup.Escape(string.Join(",", w.Queues)), Markup.Escape(string.Join(",", w.Tags)),
                    online ? $"{w.Running}/{w.Slots}" : $"-/{w.Slots}", $"{Views.Duration(w.LastSeenAt, now, now)} ago");
            }
            AnsiConsole.Write(table);
            if (workers.Count > shown.Count)
            {
                Views.Line($"[grey]{workers.Count - shown.Count} worker(s) offline for more than {HiddenAfter.TotalHours:0} h not shown; kiln workers --all lists them[/]");
            }
            return 0;
        }));
        return command;
    }
}
