using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln token create|list|revoke</c>: the caller's API tokens.</summary>
public static class TokenCommand
{
    public static Command Create()
    {
        var command = new Command("token", "Your API tokens: create one (shown once), list them, revoke one.");
        command.Subcommands.Add(New());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Revoke());
        return command;
    }

    /// <summary>The options a new token takes, shared with <c>kiln user add --token</c>.</summary>
    internal static (Option<string?> Comment, Option<string[]> Scopes, Option<string?> Expires) TokenOptions()
    {
        var comment = new Option<string?>("--comment") { Description = "What the token is for (at most 200 characters)" };
        var scopes = new Option<string[]>("--scope") { Description = "read, submit, operate or admin; repeat for several (default: read, submit, operate)", AllowMultipleArgumentsPerToken = false };
        scopes.AcceptOnlyFromAmong("read", "submit", "operate", "admin");
        var expires = new Option<string?>("--expires") { Description = "When it stops working: a number of days (30d) or a date (2026-12-31); default never" };
        return (comment, scopes, expires);
    }

    internal static CreateTokenRequest Request(string? comment, string[]? scopes, string? expires)
    {
        int? days = null;
        DateTimeOffset? at = null;
        if (expires is { } e)
        {
            if (e.EndsWith('d') && int.TryParse(e[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var d))
            {
                days = d;
            }
            else if (DateTimeOffset.TryParse(e, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            {
                at = parsed;
            }
            else
            {
                throw new CliException($"--expires: '{e}' is neither a number of days (30d) nor a date (2026-12-31)", 2);
            }
        }
        return new CreateTokenRequest(comment, scopes is { Length: > 0 } ? scopes : null, days, at);
    }

    /// <summary>Prints a new token: its text alone on standard output (for scripts), the warning on standard error.</summary>
    internal static void PrintCreated(CreatedTokenResponse created, bool json)
    {
        if (json)
        {
            CliRun.PrintJson(created);
            return;
        }
        Console.Out.WriteLine(created.Token);
        Console.Error.WriteLine($"token {created.View.Id} ({string.Join(", ", created.View.Scopes)}{(created.View.ExpiresAt is { } e ? $", expires {e:u}" : "")}) for {created.View.User}: this is the only time it is shown; keep it now (e.g. 'kiln login --token-file FILE')");
    }

    private static Command New()
    {
        var (comment, scopes, expires) = TokenOptions();
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("create", "Create an API token for yourself; its text is printed once, on standard output.") { comment, scopes, expires, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("token create", parse.GetValue(server), async url =>
        {
            var request = Request(parse.GetValue(comment), parse.GetValue(scopes), parse.GetValue(expires));
            using var client = ClientSettings.Connect(url);
            PrintCreated(await client.CreateTokenAsync(request, ct), parse.GetValue(json));
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var user = new Option<string?>("--user") { Description = "Another user's tokens (admins)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "Your tokens (never their text): id, prefix, comment, scopes, dates.") { user, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("token list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var tokens = await CliRun.AllPagesAsync(after => client.ListTokensAsync(parse.GetValue(user), 500, after, ct));
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(tokens);
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "prefix", "comment", "scopes", "created", "expires", "last used", "state");
            foreach (var t in tokens)
            {
                table.AddRow(t.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(t.Prefix + "…"), Markup.Escape(t.Comment), Markup.Escape(string.Join(",", t.Scopes)),
                    Date(t.CreatedAt), Date(t.ExpiresAt), Date(t.LastUsedAt), t.RevokedAt is not null ? "revoked" : "active");
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Revoke()
    {
        var id = new Argument<long>("id") { Description = "Token id (from 'kiln token list')" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("revoke", "Revoke a token: it is refused from the next request on, on every server.") { id, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("token revoke", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.RevokeTokenAsync(parse.GetValue(id), ct), parse.GetValue(json));
        }));
        return command;
    }

    internal static string Date(DateTimeOffset? at) => at is { } a ? a.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : "-";
}
