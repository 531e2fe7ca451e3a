using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln repos list|show</c>: a project's published repositories (APT and RPM, per suite), the
/// snapshot served, and the lines a machine needs to use them.
/// </summary>
public static class ReposCommand
{
    public static Command Create()
    {
        var command = new Command("repos", "A project's published package repositories (made by apt/publish and rpm/publish jobs).");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        return command;
    }

    private static Command List()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "The project's repositories: suite, format, snapshot, packages and URL.") { project, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("repos list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var repositories = await client.ListRepositoriesAsync(parse.GetValue(project)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(repositories);
                return 0;
            }
            if (repositories.Count == 0)
            {
                Console.Out.WriteLine($"project '{parse.GetValue(project)}' has published no repository yet; an apt/publish or rpm/publish job makes one");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("suite", "format", "snapshot", "published", "packages", "url");
            foreach (var r in repositories)
            {
                table.AddRow(Markup.Escape(r.Suite), r.Format, r.Snapshot.ToString(CultureInfo.InvariantCulture), Markup.Escape(Views.Time(r.PublishedAt)),
                    r.Packages.ToString(CultureInfo.InvariantCulture), Markup.Escape(r.Url));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var suite = new Argument<string>("suite") { Description = "The suite (bookworm, fedora-40, …)" };
        var limit = new Option<int>("--limit") { Description = "Most files listed (1-500)", DefaultValueFactory = _ => 100 };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("show", "One repository: how to use it (sources.list line or .repo file, key) and its files.") { project, suite, limit, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("repos show", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var detail = await client.GetRepositoryAsync(parse.GetValue(project)!, parse.GetValue(suite)!, parse.GetValue(limit), null, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(detail);
                return 0;
            }
            var r = detail.Repository;
            Console.Out.WriteLine($"{r.Project}/{r.Suite} ({r.Format}), snapshot {r.Snapshot}, {r.Packages} files, published {Views.Time(r.PublishedAt)}");
            Console.Out.WriteLine($"url: {r.Url}");
            Console.Out.WriteLine($"key: {r.KeyUrl}");
            if (r.KeySetup is { } setup)
            {
                Console.Out.WriteLine($"fetch the key:  {setup}");
                Console.Out.WriteLine($"sources.list:   {r.SourcesLine}");
            }
            else
            {
                Console.Out.WriteLine($"/etc/yum.repos.d/kiln-{r.Project}-{r.Suite}.repo:");
                Console.Out.WriteLine(r.SourcesLine);
            }
            if (detail.Packages.Count > 0)
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumns("package", "version", "arch", "file", "size");
                foreach (var p in detail.Packages)
                {
                    table.AddRow(Markup.Escape(p.Package), Markup.Escape(p.Version), Markup.Escape(p.Architecture), Markup.Escape(p.Filename),
                        p.Size.ToString(CultureInfo.InvariantCulture));
                }
                AnsiConsole.Write(table);
            }
            if (detail.Next is not null)
            {
                Console.Out.WriteLine($"(more files: --limit up to 500, or GET …/repositories/{r.Suite}?after={detail.Next})");
            }
            return 0;
        }));
        return command;
    }
}
