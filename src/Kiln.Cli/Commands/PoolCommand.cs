using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln pool create|list|show|set|delete</c>: worker pools, the farm's answer to "which
/// workers may run what" (admins only). A worker enrols into the pool of the registration token
/// it registers with (<c>kiln worker token create --pool NAME</c>).
/// </summary>
public static class PoolCommand
{
    public static Command Create()
    {
        var command = new Command("pool", "Worker pools: which queues and projects their workers serve, and whether new workers need approval (admins).");
        command.Subcommands.Add(CreatePool());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Set());
        command.Subcommands.Add(Delete());
        return command;
    }

    private sealed record Fields(Option<string?> Description, Option<string[]> Queues, Option<string[]> Projects, Option<bool?> ExcludePrivate, Option<bool?> Approval);

    private static Fields NewFields(bool set) => new(
        new Option<string?>("--description") { Description = "What the pool is for" },
        new Option<string[]>("--queue") { Description = set ? "Queues it serves, replacing the list (repeatable; --all-queues for every queue)" : "Queues it serves (repeatable; none: every queue)", AllowMultipleArgumentsPerToken = true },
        new Option<string[]>("--project") { Description = set ? "Projects it serves, replacing the list (repeatable; --all-projects for every project)" : "Projects it serves (repeatable; none: every project)", AllowMultipleArgumentsPerToken = true },
        new Option<bool?>("--exclude-private") { Description = "Never serve private projects (true/false)" },
        new Option<bool?>("--approval-required") { Description = "New workers wait for 'kiln worker approve NAME' (true/false)" });

    private static Command CreatePool()
    {
        var name = new Argument<string>("name") { Description = "Pool name" };
        var f = NewFields(set: false);
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("create", "Create a pool.") { name, f.Description, f.Queues, f.Projects, f.ExcludePrivate, f.Approval, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("pool create", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var pool = await client.CreatePoolAsync(new PoolRequest(parse.GetValue(name), parse.GetValue(f.Description), parse.GetValue(f.Queues) ?? [],
                parse.GetValue(f.Projects) ?? [], parse.GetValue(f.ExcludePrivate) ?? false, parse.GetValue(f.Approval) ?? false), ct);
            Print([pool], parse.GetValue(json), single: true);
            if (!parse.GetValue(json))
            {
                Console.Out.WriteLine($"Enrol workers with a token of the pool: kiln worker token create --pool {pool.Name}");
            }
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "Every pool.") { server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("pool list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var pools = await CliRun.AllPagesAsync(after => client.ListPoolsAsync(500, after, ct));
            Print(pools, parse.GetValue(json), single: false);
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var name = new Argument<string>("name") { Description = "Pool name" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("show", "One pool.") { name, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("pool show", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            Print([await client.GetPoolAsync(parse.GetValue(name)!, ct)], parse.GetValue(json), single: true);
            return 0;
        }));
        return command;
    }

    private static Command Set()
    {
        var name = new Argument<string>("name") { Description = "Pool name" };
        var f = NewFields(set: true);
        var allQueues = new Option<bool>("--all-queues") { Description = "Serve every queue" };
        var allProjects = new Option<bool>("--all-projects") { Description = "Serve every project" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("set", "Change a pool; options not given keep their values. Claims follow at once.")
        {
            name, f.Description, f.Queues, allQueues, f.Projects, allProjects, f.ExcludePrivate, f.Approval, server, json,
        };
        command.SetAction((parse, ct) => CliRun.GuardAsync("pool set", parse.GetValue(server), async url =>
        {
            var queues = parse.GetValue(f.Queues) is { Length: > 0 } q ? q : null;
            var projects = parse.GetValue(f.Projects) is { Length: > 0 } p ? p : null;
            if ((queues is not null && parse.GetValue(allQueues)) || (projects is not null && parse.GetValue(allProjects)))
            {
                throw new CliException("--queue/--project and --all-queues/--all-projects contradict each other", 2);
            }
            using var client = ClientSettings.Connect(url);
            var pool = await client.UpdatePoolAsync(parse.GetValue(name)!, new PoolRequest(null, parse.GetValue(f.Description),
                parse.GetValue(allQueues) ? [] : queues, parse.GetValue(allProjects) ? [] : projects,
                parse.GetValue(f.ExcludePrivate), parse.GetValue(f.Approval)), ct);
            Print([pool], parse.GetValue(json), single: true);
            return 0;
        }));
        return command;
    }

    private static Command Delete()
    {
        var name = new Argument<string>("name") { Description = "Pool name" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("delete", "Delete a pool without workers, with its registration tokens.") { name, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("pool delete", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.DeletePoolAsync(parse.GetValue(name)!, ct), parse.GetValue(json));
        }));
        return command;
    }

    private static void Print(List<PoolView> pools, bool json, bool single)
    {
        if (json)
        {
            if (single)
            {
                CliRun.PrintJson(pools[0]);
            }
            else
            {
                CliRun.PrintJson(pools);
            }
            return;
        }
        var table = new Table().Border(TableBorder.Rounded).AddColumns("name", "queues", "projects", "private", "approval", "workers", "live tokens", "description");
        foreach (var p in pools)
        {
            table.AddRow(Markup.Escape(p.Name), Markup.Escape(p.Queues.Count == 0 ? "(every queue)" : string.Join(",", p.Queues)),
                Markup.Escape(p.Projects.Count == 0 ? "(every project)" : string.Join(",", p.Projects)),
                p.ExcludePrivate ? "excluded" : "served", p.ApprovalRequired ? "required" : "-",
                p.Workers.ToString(CultureInfo.InvariantCulture), p.LiveTokens.ToString(CultureInfo.InvariantCulture), Markup.Escape(p.Description));
        }
        AnsiConsole.Write(table);
    }
}
