using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln project list|show|set|create|member</c>: weights, base priorities and caps of projects
/// (farm policy, admins), and what owners decide: description, visibility, members.
/// </summary>
public static class ProjectCommand
{
    public static Command Create()
    {
        var command = new Command("project", "Show and change projects: their share of the farm (weight), base priority and cap; their description, visibility and members.");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Set());
        command.Subcommands.Add(ProjectMemberCommand.Create());
        command.Subcommands.Add(ProjectMemberCommand.Members());
        command.Subcommands.Add(ProjectTrustCommands.Trust());
        command.Subcommands.Add(ProjectTrustCommands.Untrust());
        return command;
    }

    private static Command List()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "Every project with its load.") { server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("project list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var projects = await CliRun.AllPagesAsync(after => client.ListProjectsAsync(500, after, ct));
            Print(projects, parse.GetValue(json), single: false);
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var name = new Argument<string>("name") { Description = "Project name" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("show", "One project.") { name, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("project show", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var project = await client.GetProjectAsync(parse.GetValue(name)!, ct);
            Print([project], parse.GetValue(json), single: true);
            if (!parse.GetValue(json))
            {
                Console.Out.WriteLine($"Trusted pools (jobs with secrets): {(project.TrustedPools is { Count: > 0 } t ? string.Join(", ", t) : "none")}");
            }
            return 0;
        }));
        return command;
    }

    private static Command Set()
    {
        var name = new Argument<string>("name") { Description = "Project name (created if new)" };
        var weight = new Option<int?>("--weight") { Description = "Share of the farm relative to other projects (1-1000)" };
        var basePriority = new Option<int?>("--base-priority") { Description = "Added to the priority of every job submitted from now on" };
        var cap = new Option<int?>("--cap") { Description = "Most work requests running at once" };
        var noCap = new Option<bool>("--no-cap") { Description = "Remove the cap" };
        var visibility = new Option<string?>("--visibility") { Description = "public (anyone may read it) or private (members only); owners" };
        visibility.AcceptOnlyFromAmong("public", "private");
        var description = new Option<string?>("--description") { Description = "What the project is; owners" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("set", "Change a project's settings; unset options keep their current values. Weight, base priority and cap are farm policy (admins); visibility and description are its owners'.")
        {
            name, weight, basePriority, cap, noCap, visibility, description, server, json,
        };
        command.SetAction((parse, ct) => CliRun.GuardAsync("project set", parse.GetValue(server), async url =>
        {
            if (parse.GetValue(cap) is not null && parse.GetValue(noCap))
            {
                throw new CliException("--cap and --no-cap contradict each other", 2);
            }
            using var client = ClientSettings.Connect(url);
            var project = parse.GetValue(name)!;
            var ownerSide = parse.GetValue(visibility) is not null || parse.GetValue(description) is not null;
            if (ownerSide)
            {
                var updated = await client.UpdateProjectAsync(project, new UpdateProjectRequest(parse.GetValue(description), parse.GetValue(visibility)), ct);
                if (parse.GetValue(weight) is null && parse.GetValue(basePriority) is null && parse.GetValue(cap) is null && !parse.GetValue(noCap))
                {
                    Print([updated], parse.GetValue(json), single: true);
                    return 0;
                }
            }
            ProjectView? current = null;
            try
            {
                current = await client.GetProjectAsync(project, ct);
            }
            catch (KilnApiException e) when (e.Status == System.Net.HttpStatusCode.NotFound)
            {
                // A new project: unset values take the defaults.
            }
            var settings = new ProjectSettings(
                parse.GetValue(weight) ?? current?.Weight,
                parse.GetValue(basePriority) ?? current?.BasePriority,
                parse.GetValue(noCap) ? null : parse.GetValue(cap) ?? current?.MaxRunning);
            Print([await client.PutProjectAsync(project, settings, ct)], parse.GetValue(json), single: true);
            return 0;
        }));
        return command;
    }

    private static void Print(List<ProjectView> projects, bool json, bool single)
    {
        if (json)
        {
            if (single)
            {
                CliRun.PrintJson(projects[0]);
            }
            else
            {
                CliRun.PrintJson(projects);
            }
            return;
        }
        var table = new Table().Border(TableBorder.Rounded).AddColumns("name", "visibility", "weight", "base priority", "cap", "running", "pending");
        foreach (var p in projects)
        {
            table.AddRow(Markup.Escape(p.Name), p.Visibility, p.Weight.ToString(CultureInfo.InvariantCulture), p.BasePriority.ToString(CultureInfo.InvariantCulture),
                p.MaxRunning?.ToString(CultureInfo.InvariantCulture) ?? "-", Count(p.Running, p), Count(p.Pending, p));
        }
        AnsiConsole.Write(table);
    }

    /// <summary>A count that stopped at the server's cap reads "10,000+".</summary>
    private static string Count(int value, ProjectView p) =>
        p.CountsCapped && value >= ProjectView.CountCap ? $"{value.ToString("N0", CultureInfo.InvariantCulture)}+" : value.ToString(CultureInfo.InvariantCulture);
}
