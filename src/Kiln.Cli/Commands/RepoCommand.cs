using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln repo link|list|unlink</c>: a project owner's repository links (docs/webhooks.md). A
/// secret or token never comes from the command line (other users' <c>ps</c> and the shell's
/// history would see it): from a file, from standard input, or made by <c>--generate-secret</c>
/// and printed once for the forge's webhook form.
/// </summary>
public static class RepoCommand
{
    public static Command Create()
    {
        var command = new Command("repo", "Forge repositories linked to a project: their webhooks verify with the link's secret (docs/webhooks.md).");
        command.Subcommands.Add(Link());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Unlink());
        return command;
    }

    private static Command Link()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var forge = new Argument<string>("forge") { Description = "github, gitlab or forgejo" };
        var repository = new Argument<string>("repository") { Description = "owner/name (GitLab: the project's full path)" };
        var secretFile = new Option<string?>("--secret-file") { Description = "Read the webhook's secret from this file (first line); without it and --generate-secret, from standard input" };
        var generate = new Option<bool>("--generate-secret") { Description = "Make a random secret and print it once, to paste into the forge's webhook form" };
        var apiUrl = new Option<string?>("--api-url") { Description = "The forge's API, for reconcile (https://api.github.com, https://gitlab.example/api/v4, https://codeberg.org/api/v1)" };
        var tokenFile = new Option<string?>("--token-file") { Description = "Read a forge API token (for reconcile and status reports) from this file (first line)" };
        var hookId = new Option<string?>("--hook-id") { Description = "GitHub: the webhook's id, so reconcile can redeliver its failed deliveries" };
        var every = new Option<string?>("--reconcile-every") { Description = "Reconcile on this period (e.g. 15m, 1h; at least 60s); needs --api-url" };
        var report = new Option<string?>("--report") { Description = "What to report to the forge: off, summary (default), jobs or groups" };
        var context = new Option<string?>("--context") { Description = "The status context or check run name (default kiln)" };
        var installation = new Option<string?>("--installation") { Description = "GitHub: the App installation id to write check runs as (kiln forge-app set registers the App)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("link", "Link a forge repository to a project, or replace its secret and settings.")
        {
            project, forge, repository, secretFile, generate, apiUrl, tokenFile, hookId, every, report, context, installation, server, json,
        };
        command.SetAction((parse, ct) => CliRun.GuardAsync("repo link", parse.GetValue(server), async url =>
        {
            if (parse.GetValue(generate) && parse.GetValue(secretFile) is not null)
            {
                throw new CliException("give either --secret-file or --generate-secret, not both", 2);
            }
            var period = parse.GetValue(every) is { } text ? Period(text) : (int?)null;
            var generated = parse.GetValue(generate) ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) : null;
            var secret = generated ?? (parse.GetValue(secretFile) is { } file ? FirstLine(file, "--secret-file") : FromStandardInput());
            var token = parse.GetValue(tokenFile) is { } tokenPath ? FirstLine(tokenPath, "--token-file") : null;
            using var client = ClientSettings.Connect(url);
            var link = await client.LinkRepositoryAsync(parse.GetValue(project)!, new LinkRepositoryRequest(
                parse.GetValue(forge), parse.GetValue(repository), secret, parse.GetValue(apiUrl), token, parse.GetValue(hookId), period,
                parse.GetValue(report), parse.GetValue(context), parse.GetValue(installation)), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(link);
                return 0;
            }
            Console.Out.WriteLine($"linked {link.Forge} repository {link.Repository} to project '{link.Project}' (link {link.Id})");
            Console.Out.WriteLine($"webhook URL: {url.ToString().TrimEnd('/')}{link.HookPath} (content type application/json)");
            if (generated is not null)
            {
                Console.Out.WriteLine($"webhook secret (shown once; Kiln keeps it sealed and never shows it again): {generated}");
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
        var command = new Command("list", "The project's repository links (never their secrets).") { project, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("repo list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var links = await client.ListLinksAsync(parse.GetValue(project)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(links);
                return 0;
            }
            if (links.Count == 0)
            {
                Console.Out.WriteLine($"project '{parse.GetValue(project)}' links no repository; link one with: kiln repo link {parse.GetValue(project)} FORGE OWNER/NAME --generate-secret");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "forge", "repository", "report", "reconcile", "last event", "last reconcile");
            foreach (var l in links)
            {
                var reconcile = l.ApiUrl is null ? "-" : l.ReconcileSeconds is { } s ? $"every {s.ToString(CultureInfo.InvariantCulture)} s" : "on demand";
                var reporting = l.Report == "off" ? "off"
                    : $"{l.Report} as {l.ReportContext}{(l.InstallationId is { } app ? $" (app installation {app})" : l.HasToken ? " (token)" : " (no credentials)")}";
                table.AddRow(Markup.Escape(l.Id.ToString(CultureInfo.InvariantCulture)), Markup.Escape(l.Forge), Markup.Escape(l.Repository),
                    Markup.Escape(reporting), Markup.Escape(reconcile), Markup.Escape(Views.Time(l.LastEventAt)), Markup.Escape(Views.Time(l.LastReconciledAt)));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Unlink()
    {
        var link = new Argument<long>("link") { Description = "The link's id (kiln repo list PROJECT)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("unlink", "Remove a link: the repository's deliveries are refused from then on; its events stay.") { link, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("repo unlink", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.UnlinkAsync(parse.GetValue(link), ct), parse.GetValue(json));
        }));
        return command;
    }

    /// <summary>"900", "900s", "15m", "1h" → seconds.</summary>
    internal static int Period(string text)
    {
        var unit = text.Length > 0 && char.IsAsciiLetter(text[^1]) ? char.ToLowerInvariant(text[^1]) : 's';
        var digits = char.IsAsciiLetter(text.Length > 0 ? text[^1] : '0') ? text[..^1] : text;
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || unit is not ('s' or 'm' or 'h') || n > 7 * 24 * 3600)
        {
            throw new CliException($"--reconcile-every: '{text}' is not a period (e.g. 900, 15m, 1h)", 2);
        }
        return unit switch { 'h' => n * 3600, 'm' => n * 60, _ => n };
    }

    private static string FirstLine(string path, string option)
    {
        try
        {
            using var reader = new StreamReader(path, new UTF8Encoding(false, throwOnInvalidBytes: true));
            var buffer = new char[8193];
            var length = reader.ReadBlock(buffer, 0, buffer.Length);
            var line = new string(buffer, 0, length).Split('\n')[0].TrimEnd('\r');
            Array.Clear(buffer);
            return line.Length > 0 ? line : throw new CliException($"{option}: '{path}' is empty", 2);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException)
        {
            throw new CliException($"{option}: cannot read '{path}': {e.Message}", 2);
        }
    }

    /// <summary>The secret from standard input: typed without echo at a terminal, else its first line.</summary>
    private static string FromStandardInput()
    {
        if (!Console.IsInputRedirected)
        {
            Console.Error.Write("webhook secret (not shown; Enter ends it): ");
            var typed = new StringBuilder();
            ConsoleKeyInfo key;
            while ((key = Console.ReadKey(intercept: true)).Key != ConsoleKey.Enter && typed.Length <= 1024)
            {
                if (key.Key == ConsoleKey.Backspace)
                {
                    typed.Length = Math.Max(0, typed.Length - 1);
                }
                else if (key.KeyChar != '\0')
                {
                    typed.Append(key.KeyChar);
                }
            }
            Console.Error.WriteLine();
            return typed.ToString();
        }
        var line = Console.In.ReadLine();
        return line is { Length: > 0 } ? line : throw new CliException("no secret: give it on standard input, or use --secret-file FILE or --generate-secret", 2);
    }
}
