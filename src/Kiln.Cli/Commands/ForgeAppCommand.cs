using System.CommandLine;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln forge-app set|list|remove</c>: the GitHub App a farm writes check runs as (farm admins; docs/status-reports.md).</summary>
public static class ForgeAppCommand
{
    public static Command Create()
    {
        var command = new Command("forge-app", "The GitHub App Kiln writes check runs as, per GitHub API URL (farm admins).");
        command.Subcommands.Add(Set());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Remove());
        return command;
    }

    private static Option<string> ApiUrlOption() => new("--api-url") { Description = "The GitHub API URL (https://api.github.com, or a GitHub Enterprise one)", Required = true };

    private static Command Set()
    {
        var apiUrl = ApiUrlOption();
        var appId = new Option<string>("--app-id") { Description = "The App's numeric id", Required = true };
        var key = new Option<string>("--private-key") { Description = "The App's private key file (PEM), as GitHub generated it", Required = true };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("set", "Register (or replace) the GitHub App of an API URL; its key is sealed and never shown again.") { apiUrl, appId, key, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("forge-app set", parse.GetValue(server), async url =>
        {
            var path = parse.GetValue(key)!;
            if (!File.Exists(path))
            {
                throw new CliException($"--private-key: no file {path}; download the App's private key (a .pem file) from its GitHub settings", 2);
            }
            if (new FileInfo(path).Length > 16 * 1024)
            {
                throw new CliException($"--private-key: {path} is larger than 16 KiB; it is not a PEM private key", 2);
            }
            using var client = ClientSettings.Connect(url);
            var view = await client.SetForgeAppAsync(new SetForgeAppRequest(parse.GetValue(apiUrl), parse.GetValue(appId), await File.ReadAllTextAsync(path, ct)), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(view);
                return 0;
            }
            Console.Out.WriteLine($"GitHub App {view.AppId} registered for {view.ApiUrl}; link repositories with: kiln repo link PROJECT github OWNER/REPO --installation ID");
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "The registered GitHub Apps (never their keys).") { server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("forge-app list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var apps = await client.ListForgeAppsAsync(ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(apps);
                return 0;
            }
            if (apps.Count == 0)
            {
                Console.Out.WriteLine("no GitHub App is registered; kiln forge-app set --api-url https://api.github.com --app-id N --private-key app.pem");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("api url", "app id", "created", "by");
            foreach (var a in apps)
            {
                table.AddRow(Markup.Escape(a.ApiUrl), Markup.Escape(a.AppId), Views.Time(a.CreatedAt), Markup.Escape(a.CreatedBy ?? "-"));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Remove()
    {
        var apiUrl = ApiUrlOption();
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("remove", "Remove the GitHub App of an API URL: check runs of its installations fail until one is set again.") { apiUrl, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("forge-app remove", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var done = await client.RemoveForgeAppAsync(parse.GetValue(apiUrl)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(done);
                return 0;
            }
            Console.Out.WriteLine(done.Message);
            return 0;
        }));
        return command;
    }
}
