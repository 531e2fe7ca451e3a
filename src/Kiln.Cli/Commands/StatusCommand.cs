using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln status</c>: the farm at a glance — server version, database, who leads the
/// background duties and since when, clock skew, queues, workers online. Warnings are printed
/// last, one per line; the exit code is 0 whenever the server answered.
/// </summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("status", "The farm at a glance: version, database, leader, queues, workers.") { server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("status", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var status = await client.GetStatusAsync(ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(status);
                return 0;
            }
            Print(status, url, TimeProvider.System.GetUtcNow());
            return 0;
        }));
        return command;
    }

    private static void Print(FarmStatus s, Uri url, DateTimeOffset now)
    {
        var db = s.Database;
        Views.Line($"[bold]Server[/]     {Markup.Escape(url.ToString())} (version {Markup.Escape(s.Version)}, replica {Markup.Escape(s.Replica.Id)}{(s.Replica.Leading ? ", leading" : "")})");
        Views.Line("[bold]Database[/]   " + (!db.Reachable
            ? $"[red]unreachable[/]: {Markup.Escape(db.Error ?? "")}"
            : db.MigrationsCurrent
                ? $"[green]ok[/], schema {Markup.Escape(db.SchemaVersion ?? "none")}"
                : $"[red]migrations missing[/]: {Markup.Escape(string.Join(", ", db.MissingMigrations))}"));
        var l = s.Leadership;
        Views.Line("[bold]Leader[/]     " + (l.Leader is { } leader
            ? $"{Markup.Escape(leader)} since {Views.Time(l.Since)} ({Views.Duration(l.Since, now, now)}), fence {l.Fence}"
            : $"[red]none[/] for {l.LeaderlessSeconds.ToString("0", CultureInfo.InvariantCulture)} s (a replica takes over within {l.BoundSeconds} s of the last renewal)"));
        Views.Line($"[bold]Clock[/]      this replica {Skew(s.Replica.ClockSkewMs)}, leader {Skew(l.LeaderClockSkewMs)} (against the database's)");
        var w = s.Workers;
        Views.Line($"[bold]Workers[/]    {w.Online} online ({w.BusySlots}/{w.OnlineSlots} slots busy), {w.Offline} offline (online = seen within {w.OnlineWindowSeconds} s)");
        if (s.Queues.Count == 0)
        {
            Views.Line("[bold]Queues[/]     nothing pending or running");
        }
        else
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumns("queue", "pending", "running", "oldest wait");
            foreach (var q in s.Queues)
            {
                table.AddRow(Markup.Escape(q.Name), q.Pending.ToString(CultureInfo.InvariantCulture), q.Running.ToString(CultureInfo.InvariantCulture),
                    q.OldestWaitSeconds is { } wait ? Views.Duration(now.AddSeconds(-wait), now, now) : "");
            }
            AnsiConsole.Write(table);
        }
        foreach (var warning in s.Warnings)
        {
            Views.Line($"[yellow]warning:[/] {Markup.Escape(warning)}");
        }
    }

    private static string Skew(int? ms) => ms is { } v ? $"{v / 1000.0:+0.000;-0.000} s" : "unknown";
}
