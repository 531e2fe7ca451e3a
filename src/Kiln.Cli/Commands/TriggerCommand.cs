using System.CommandLine;
using Kiln.Cli.Workflows;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln trigger set|show|list|history|run</c>: a project's trigger rules (docs/events.md).</summary>
public static class TriggerCommand
{
    public static Command Create()
    {
        var command = new Command("trigger", "A project's trigger rules: which events (forge pushes, Koji tags, schedules, runs by hand) submit which workflow.");
        command.Subcommands.Add(Set());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(List());
        command.Subcommands.Add(History());
        command.Subcommands.Add(Run());
        return command;
    }

    private static Command Set()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var file = new Argument<string>("file") { Description = "The rules file (YAML); the workflow files it names are read beside it" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("set", "Set the project's rules from a file: a new version (the old ones are kept); rules keep their identity by name.") { project, file, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("trigger set", parse.GetValue(server), async url =>
        {
            TriggerSetRequest request;
            try
            {
                request = TriggerFile.Load(parse.GetValue(file)!);
            }
            catch (WorkflowFileException e)
            {
                throw new CliException(e.Message, 2);
            }
            using var client = ClientSettings.Connect(url);
            var set = await client.SetTriggersAsync(parse.GetValue(project)!, request, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(set);
            }
            else
            {
                Console.Out.WriteLine($"project '{set.Project}': rules version {set.Version} ({string.Join(", ", set.Rules.Select(r => r.Name))})");
            }
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("show", "The project's current rules file, as set.") { project, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("trigger show", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var set = await client.GetTriggersAsync(parse.GetValue(project)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(set);
            }
            else if (set.Version == 0)
            {
                Console.Out.WriteLine($"project '{set.Project}' has no trigger rules; set them with: kiln trigger set {set.Project} rules.yaml");
            }
            else
            {
                Console.Out.WriteLine($"# project {set.Project}, rules version {set.Version}, set {Views.Time(set.CreatedAt)} by {set.CreatedBy ?? "-"}");
                Console.Out.Write(set.Text);
            }
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "The project's rules: source, filter, workflow, burst limit, paused.") { project, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("trigger list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var set = await client.GetTriggersAsync(parse.GetValue(project)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(set.Rules);
                return 0;
            }
            if (set.Rules.Count == 0)
            {
                Console.Out.WriteLine($"project '{set.Project}' has no trigger rules; set them with: kiln trigger set {set.Project} rules.yaml");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("rule", "source", "takes", "workflow", "burst", "state");
            foreach (var r in set.Rules)
            {
                table.AddRow(Markup.Escape(r.Name), Markup.Escape(r.Source), Markup.Escape(Filter(r)), Markup.Escape(r.Workflow),
                    Markup.Escape($"{r.BurstLimit}/{r.BurstWindowSeconds / 60}m"), r.Paused ? "[yellow]paused[/]" : "active");
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command History()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("history", "Every version of the project's rules file, newest first.") { project, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("trigger history", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var versions = await client.TriggerHistoryAsync(parse.GetValue(project)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(versions);
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("version", "set", "by", "rules");
            foreach (var v in versions)
            {
                table.AddRow(v.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(Views.Time(v.CreatedAt)),
                    Markup.Escape(v.CreatedBy ?? "-"), Markup.Escape(string.Join(", ", v.Rules)));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Run()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var rule = new Argument<string>("rule") { Description = "The rule to run" };
        var parameters = new Option<string[]>("--param", "-p") { Description = "A workflow parameter, NAME=VALUE (repeatable; over the rule's params)" };
        var inputKey = new Option<string?>("--input-key") { Description = "Build only once for this key: a second run with it creates nothing (default: every run builds)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("run", "Run a rule by hand (a manual event) and say what it did.") { project, rule, parameters, inputKey, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("trigger run", parse.GetValue(server), async url =>
        {
            var given = SubmitCommand.WithParameters(null, parse.GetValue(parameters) ?? []);
            using var client = ClientSettings.Connect(url);
            var accepted = await client.RunTriggerAsync(parse.GetValue(project)!, parse.GetValue(rule)!, new TriggerRunRequest(given, parse.GetValue(inputKey)), ct);
            var view = await EventsCommand.WaitProcessedAsync(client, accepted.EventId, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(view);
                return 0;
            }
            Console.Out.WriteLine($"event {accepted.EventId}{(accepted.Duplicate ? " (run before with this input key)" : "")}: {view.State}");
            EventsCommand.PrintEffects(view);
            return 0;
        }));
        return command;
    }

    private static string Filter(TriggerRuleView r)
    {
        var d = r.Definition;
        var parts = new List<string>();
        if (d.Types is { Count: > 0 })
        {
            parts.Add(string.Join(",", d.Types));
        }
        void Add(string name, List<string>? patterns)
        {
            if (patterns is { Count: > 0 })
            {
                parts.Add($"{name} {string.Join(",", patterns)}");
            }
        }
        Add("repo", d.Repositories);
        Add("branch", d.Branches);
        Add("tag", d.Tags);
        Add("koji-tag", d.KojiTags);
        Add("package", d.Packages);
        if (d.Schedule is { } cron)
        {
            parts.Add($"cron {cron}");
        }
        return parts.Count == 0 ? "all" : string.Join("; ", parts);
    }
}
