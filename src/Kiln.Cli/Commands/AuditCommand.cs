using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln audit</c>: the audit log, newest first (admins).</summary>
public static class AuditCommand
{
    public static Command Create()
    {
        var action = new Option<string?>("--action") { Description = "Only this action (token.create, member.set, user.disable, project.policy, worker.disable, …)" };
        var actor = new Option<string?>("--actor") { Description = "Only what this user (or worker) did" };
        var target = new Option<string?>("--target") { Description = "Only what happened to this (user:NAME, project:NAME, token:ID, worker:NAME)" };
        var limit = new Option<int>("--limit") { Description = "How many entries (1-500)", DefaultValueFactory = _ => 50 };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("audit", "The audit log (admins): who changed what, when and from where, newest first.") { action, actor, target, limit, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("audit", parse.GetValue(server), async url =>
        {
            if (parse.GetValue(limit) is < 1 or > 500)
            {
                throw new CliException("--limit must be 1 to 500", 2);
            }
            using var client = ClientSettings.Connect(url);
            var page = await client.ListAuditAsync(parse.GetValue(action), parse.GetValue(actor), parse.GetValue(target), parse.GetValue(limit), null, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(page.Items);
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "at", "actor", "from", "action", "target", "details");
            foreach (var e in page.Items)
            {
                table.AddRow(e.Id.ToString(CultureInfo.InvariantCulture), TokenCommand.Date(e.At), Markup.Escape($"{e.Actor} ({e.ActorKind})"),
                    Markup.Escape(e.Address ?? "-"), Markup.Escape(e.Action), Markup.Escape(e.Target), Markup.Escape(e.Details.GetRawText()));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }
}
