using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln worker token create|list|revoke</c>: registration tokens, each enrolling workers into
/// one pool. Rotation is create a new one, move the workers' configuration to it, revoke the old.
/// </summary>
public static class WorkerTokenCommands
{
    public static Command Create()
    {
        var command = new Command("token", "Registration tokens that enrol workers into a pool (admins): create, list, revoke.");
        command.Subcommands.Add(CreateToken());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Revoke());
        return command;
    }

    private static Command CreateToken()
    {
        var pool = new Option<string>("--pool") { Description = "The pool workers registering with it enrol into", Required = true };
        var expires = new Option<string?>("--expires") { Description = "Lifetime in days, e.g. 30d (default: no expiry)" };
        var comment = new Option<string?>("--comment") { Description = "What it is for (shown in lists)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("create", "Make a registration token; its text is printed this once.") { pool, expires, comment, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("worker token create", parse.GetValue(server), async url =>
        {
            int? days = null;
            if (parse.GetValue(expires) is { } text)
            {
                var digits = text.EndsWith('d') ? text[..^1] : text;
                if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > 3650)
                {
                    throw new CliException($"--expires '{text}': give whole days from 1 to 3650, e.g. 30d", 2);
                }
                days = n;
            }
            using var client = ClientSettings.Connect(url);
            var created = await client.CreateRegistrationTokenAsync(parse.GetValue(pool)!, new CreateRegistrationTokenRequest(parse.GetValue(comment), days), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(created);
                return 0;
            }
            Console.Out.WriteLine(created.Secret);
            Console.Error.WriteLine($"Registration token {created.Token.Id} of pool '{created.Token.Pool}'"
                + (created.Token.ExpiresAt is { } at ? $", expires {Views.Time(at)}" : ", no expiry")
                + ". It is shown only now. Workers use it as: KILN_TOKEN=… kiln worker --server URL (or --token-file FILE)");
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var pool = new Option<string?>("--pool") { Description = "Only this pool's tokens" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "Registration tokens: prefix, pool, comment, expiry, revocation (never their text).") { pool, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("worker token list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var tokens = await CliRun.AllPagesAsync(after => client.ListRegistrationTokensAsync(parse.GetValue(pool), 500, after, ct));
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(tokens);
                return 0;
            }
            var now = TimeProvider.System.GetUtcNow();
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "prefix", "pool", "comment", "created", "expires", "state");
            foreach (var t in tokens)
            {
                var state = t.RevokedAt is not null ? "[grey]revoked[/]" : t.ExpiresAt <= now ? "[grey]expired[/]" : "[green]live[/]";
                table.AddRow(t.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(t.Prefix + "…"), Markup.Escape(t.Pool), Markup.Escape(t.Comment),
                    Views.Time(t.CreatedAt), t.ExpiresAt is { } e ? Views.Time(e) : "never", state);
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Revoke()
    {
        var id = new Argument<long>("id") { Description = "The token's id (see kiln worker token list)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("revoke", "Revoke a registration token: it enrols no more workers (enrolled workers keep working).") { id, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("worker token revoke", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.RevokeRegistrationTokenAsync(parse.GetValue(id), ct), parse.GetValue(json));
        }));
        return command;
    }
}
