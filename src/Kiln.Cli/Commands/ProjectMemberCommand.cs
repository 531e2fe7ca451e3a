using System.CommandLine;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln project create</c> and <c>kiln project member add|remove|list</c>: a project's owner side.</summary>
public static class ProjectMemberCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "Project name" };
        var isPrivate = new Option<bool>("--private") { Description = "Only its members (and admins) may see it (default: public, anyone may read it)" };
        var description = new Option<string?>("--description") { Description = "What the project is" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("create", "Create a project; you become its owner.") { name, isPrivate, description, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("project create", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var project = await client.CreateProjectAsync(new CreateProjectRequest(parse.GetValue(name), parse.GetValue(description), parse.GetValue(isPrivate) ? "private" : "public"), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(project);
            }
            else
            {
                Console.Out.WriteLine($"project '{project.Name}' created ({project.Visibility}); you own it: add members with 'kiln project member add {project.Name} USER ROLE'");
            }
            return 0;
        }));
        return command;
    }

    public static Command Members()
    {
        var command = new Command("member", "A project's members and their roles: viewer, contributor, maintainer, owner.");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(Remove());
        command.Subcommands.Add(List());
        return command;
    }

    private static Command Add()
    {
        var project = new Argument<string>("project") { Description = "Project name" };
        var user = new Argument<string>("user") { Description = "User name" };
        var role = new Argument<string>("role") { Description = "viewer, contributor, maintainer or owner" };
        role.AcceptOnlyFromAmong("viewer", "contributor", "maintainer", "owner");
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("add", "Give a user a role in the project (or change its role); owners only.") { project, user, role, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("project member add", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.SetMemberAsync(parse.GetValue(project)!, parse.GetValue(user)!, parse.GetValue(role)!, ct), parse.GetValue(json));
        }));
        return command;
    }

    private static Command Remove()
    {
        var project = new Argument<string>("project") { Description = "Project name" };
        var user = new Argument<string>("user") { Description = "User name" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("remove", "Remove a user from the project; owners only (a project keeps at least one owner).") { project, user, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("project member remove", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.RemoveMemberAsync(parse.GetValue(project)!, parse.GetValue(user)!, ct), parse.GetValue(json));
        }));
        return command;
    }

    private static Command List()
    {
        var project = new Argument<string>("project") { Description = "Project name" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "The project's members and their roles.") { project, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("project member list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var members = await client.ListMembersAsync(parse.GetValue(project)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(members);
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("user", "display name", "role", "since");
            foreach (var m in members)
            {
                table.AddRow(Markup.Escape(m.User), Markup.Escape(m.DisplayName), m.Role, TokenCommand.Date(m.AddedAt));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }
}
