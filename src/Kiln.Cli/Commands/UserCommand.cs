using System.CommandLine;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln user add|list|disable|enable</c>: the farm's users (admins).</summary>
public static class UserCommand
{
    public static Command Create()
    {
        var command = new Command("user", "The farm's users (admins): add one (and its first token), list, disable, enable.");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(List());
        command.Subcommands.Add(SetDisabled("disable", true, "Disable a user: its tokens are refused from the next request on."));
        command.Subcommands.Add(SetDisabled("enable", false, "Enable a disabled user again."));
        return command;
    }

    private static Command Add()
    {
        var name = new Argument<string>("name") { Description = "User name: letters, digits, '.', '_' or '-' (at most 63)" };
        var displayName = new Option<string?>("--display-name") { Description = "The user's full name" };
        var email = new Option<string?>("--email") { Description = "The user's e-mail address" };
        var admin = new Option<bool>("--admin") { Description = "Make the user a farm admin" };
        var token = new Option<bool>("--token") { Description = "Also make the user's first API token and print it (once) to hand over" };
        var (comment, scopes, expires) = TokenCommand.TokenOptions();
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("add", "Add a user; with --token, print its first API token (shown once).") { name, displayName, email, admin, token, comment, scopes, expires, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("user add", parse.GetValue(server), async url =>
        {
            var request = parse.GetValue(token)
                ? TokenCommand.Request(parse.GetValue(comment) ?? "first token, made by an admin", parse.GetValue(scopes), parse.GetValue(expires))
                : null;
            using var client = ClientSettings.Connect(url);
            var user = await client.CreateUserAsync(new CreateUserRequest(parse.GetValue(name), parse.GetValue(displayName), parse.GetValue(email), parse.GetValue(admin)), ct);
            if (request is null)
            {
                if (parse.GetValue(json))
                {
                    CliRun.PrintJson(user);
                }
                else
                {
                    Console.Out.WriteLine($"user '{user.Name}' added{(user.Admin ? " (admin)" : "")}; it signs in with a token an admin makes for it (next time: 'kiln user add NAME --token')");
                }
                return 0;
            }
            Console.Error.WriteLine($"user '{user.Name}' added{(user.Admin ? " (admin)" : "")}");
            TokenCommand.PrintCreated(await client.CreateUserTokenAsync(user.Name, request, ct), parse.GetValue(json));
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "Every user of the farm.") { server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("user list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var users = await CliRun.AllPagesAsync(after => client.ListUsersAsync(500, after, ct));
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(users);
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("name", "display name", "email", "admin", "state", "created");
            foreach (var u in users)
            {
                table.AddRow(Markup.Escape(u.Name), Markup.Escape(u.DisplayName), Markup.Escape(u.Email), u.Admin ? "yes" : "",
                    u.Disabled ? "disabled" : "enabled", TokenCommand.Date(u.CreatedAt));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command SetDisabled(string verb, bool disable, string description)
    {
        var name = new Argument<string>("name") { Description = "User name" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command(verb, description) { name, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync($"user {verb}", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.SetUserDisabledAsync(parse.GetValue(name)!, disable, ct), parse.GetValue(json));
        }));
        return command;
    }
}
