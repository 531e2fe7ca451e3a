using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln held list|approve|discard</c>: the workflows the storm guard held (docs/concurrency.md).
/// Approve and discard take workflow ids, or <c>--first N</c> (the oldest) or <c>--all</c>,
/// narrowed by <c>--project</c> and <c>--rule</c>.
/// </summary>
public static class HeldCommand
{
    public static Command Create()
    {
        var command = new Command("held", "Workflows held by the storm guard: list them, approve them (they run) or discard them (they never run).");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Act("approve", "Approve held workflows: each runs, or is queued behind its concurrency group's running workflow.", approve: true));
        command.Subcommands.Add(Act("discard", "Discard held workflows: they are cancelled without running.", approve: false));
        return command;
    }

    private static Option<string?> ProjectOption() => new("--project", "-p") { Description = "Only this project's held workflows" };

    private static Option<string?> RuleOption() => new("--rule") { Description = "Only the workflows this trigger rule made" };

    private static Command List()
    {
        var project = ProjectOption();
        var rule = RuleOption();
        var limit = new Option<int>("--limit", "-n") { Description = "How many (1–500)", DefaultValueFactory = _ => 50 };
        var after = new Option<string?>("--after") { Description = "Continue after this cursor (the 'next' of a previous page)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "List held workflows, oldest first (the order --first approves them in).") { project, rule, limit, after, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("held list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var page = await client.ListHeldAsync(parse.GetValue(project), parse.GetValue(rule), parse.GetValue(limit), parse.GetValue(after), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(page);
                return 0;
            }
            if (page.Items.Count == 0)
            {
                Console.Out.WriteLine("no held workflows");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "name", "project", "rule", "event", "group", "jobs", "created");
            foreach (var w in page.Items)
            {
                table.AddRow(w.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(w.Name), Markup.Escape(w.Project), Markup.Escape(w.Rule ?? "-"),
                    w.EventId?.ToString(CultureInfo.InvariantCulture) ?? "-", Markup.Escape(w.ConcurrencyGroup ?? "-"),
                    w.WorkRequests.ToString(CultureInfo.InvariantCulture), Views.Time(w.CreatedAt));
            }
            AnsiConsole.Write(table);
            if (page.Next is not null)
            {
                Views.Line($"[grey]more: kiln held list --after {page.Next}[/]");
            }
            return 0;
        }));
        return command;
    }

    private static Command Act(string name, string description, bool approve)
    {
        var ids = new Argument<long[]>("workflow") { Description = "Held workflow ids (or use --first or --all)", Arity = ArgumentArity.ZeroOrMore };
        var first = new Option<int?>("--first") { Description = "The N oldest held workflows (with --project, --rule)" };
        var all = new Option<bool>("--all") { Description = "Every held workflow (with --project, --rule; at most 10000 per call)" };
        var project = ProjectOption();
        var rule = RuleOption();
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command(name, description) { ids, first, all, project, rule, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync($"held {name}", parse.GetValue(server), async url =>
        {
            var named = parse.GetValue(ids) ?? [];
            var n = parse.GetValue(first);
            var everything = parse.GetValue(all);
            if ((named.Length > 0 ? 1 : 0) + (n is null ? 0 : 1) + (everything ? 1 : 0) != 1)
            {
                throw new CliException($"say which held workflows to {name}: ids, or --first N, or --all (exactly one)", 2);
            }
            if (named.Length > 0 && (parse.GetValue(project) ?? parse.GetValue(rule)) is not null)
            {
                throw new CliException("--project and --rule narrow --first and --all; ids name the workflows themselves", 2);
            }
            var selection = new HeldSelection
            {
                Ids = named.Length > 0 ? [.. named] : null,
                First = n,
                All = everything ? true : null,
                Project = parse.GetValue(project),
                Rule = parse.GetValue(rule),
            };
            using var client = ClientSettings.Connect(url);
            var answer = approve ? await client.ApproveHeldAsync(selection, ct) : await client.DiscardHeldAsync(selection, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(answer);
            }
            else
            {
                Console.Out.WriteLine(answer.Message);
                var touched = answer.Running.Concat(answer.Queued).Concat(answer.Discarded).Order().ToList();
                if (touched.Count > 0)
                {
                    Console.Out.WriteLine($"workflows: {string.Join(", ", touched.Take(50))}{(touched.Count > 50 ? ", …" : "")}");
                }
            }
            return 0;
        }));
        return command;
    }
}
