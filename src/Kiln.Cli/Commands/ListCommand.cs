using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln list</c>: workflows, newest first.</summary>
public static class ListCommand
{
    public static Command Create()
    {
        var state = new Option<string?>("--state") { Description = "Only workflows in this state (running, succeeded, failed, cancelled)" };
        var project = new Option<string?>("--project", "-p") { Description = "Only this project's workflows" };
        var limit = new Option<int>("--limit", "-n") { Description = "How many (1–500)", DefaultValueFactory = _ => 20 };
        var after = new Option<string?>("--after") { Description = "Continue after this cursor (the 'next' of a previous page)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "List workflows, newest first.") { state, project, limit, after, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var page = await client.ListWorkflowsAsync(parse.GetValue(project), parse.GetValue(state), parse.GetValue(limit), parse.GetValue(after), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(page);
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "name", "project", "state", "progress", "created", "took");
            var now = TimeProvider.System.GetUtcNow();
            foreach (var w in page.Items)
            {
                table.AddRow(w.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(w.Name), Markup.Escape(w.Project), Views.State(w.State),
                    Views.Progress(w.Counts, 12), Views.Time(w.CreatedAt), Views.Duration(w.CreatedAt, w.FinishedAt, now));
            }
            AnsiConsole.Write(table);
            if (page.Next is not null)
            {
                Views.Line($"[grey]more: kiln list --after {page.Next}[/]");
            }
            return 0;
        }));
        return command;
    }
}
