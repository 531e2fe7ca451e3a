using System.CommandLine;
using System.Text;
using Kiln.Contracts;
using Kiln.Core.Security;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln login|logout|whoami</c>: sign in to a farm with an API token, kept in the user's
/// config file (<see cref="ClientSettings.UserConfigFile"/>, mode 0600). The token is read from a
/// file or standard input — never from the command line, where other users see it in the
/// process list and the shell keeps it in its history.
/// </summary>
public static class LoginCommands
{
    public static Command Login()
    {
        var server = ClientSettings.ServerOption();
        var tokenFile = new Option<string?>("--token-file") { Description = "Read the API token from this file (default: standard input, without echo on a terminal)" };
        var command = new Command("login", "Sign in to a farm: check an API token (kiln_pat_…) and keep it, with the server, in ~/.config/kiln/config.json (0600).") { server, tokenFile };
        command.SetAction((parse, ct) => CliRun.GuardAsync("login", parse.GetValue(server), async url =>
        {
            var token = ReadToken(parse.GetValue(tokenFile));
            if (TokenFormat.KindOf(token) != TokenKind.Api)
            {
                throw new CliException(TokenFormat.KindOf(token) is null
                    ? "that is not a Kiln API token (they start with kiln_pat_); make one with 'kiln token create' or ask an admin"
                    : "that is not an API token (kiln_pat_…); registration tokens are for 'kiln worker'");
            }
            using var client = new KilnClient(url, token);
            var me = await client.WhoAmIAsync(ct);
            var path = ClientSettings.UserConfigFile();
            ClientSettings.WriteConfig(path, new ClientSettings.ConfigFile(url.ToString(), token));
            Console.Out.WriteLine($"signed in to {url} as {me.Name}{(me.Admin ? " (admin)" : "")}; token {me.Token.Id} ({string.Join(", ", me.Token.Scopes)}) kept in {path}");
            if (Environment.GetEnvironmentVariable("KILN_TOKEN") is { Length: > 0 })
            {
                Console.Error.WriteLine("kiln login: note: KILN_TOKEN is set and is used before the stored token");
            }
            return 0;
        }));
        return command;
    }

    public static Command Logout()
    {
        var command = new Command("logout", "Forget the stored token (the config file of 'kiln login'); the token itself stays valid until revoked ('kiln token revoke ID').");
        command.SetAction(_ =>
        {
            var path = ClientSettings.UserConfigFile();
            if (!File.Exists(path))
            {
                Console.Out.WriteLine($"not signed in ({path} does not exist)");
                return 0;
            }
            File.Delete(path);
            Console.Out.WriteLine($"signed out: {path} removed");
            return 0;
        });
        return command;
    }

    public static Command WhoAmI()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("whoami", "Who the API token in use belongs to: user, token scopes and expiry, project roles.") { server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("whoami", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var me = await client.WhoAmIAsync(ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(me);
                return 0;
            }
            Console.Out.WriteLine($"{me.Name}{(me.DisplayName.Length > 0 ? $" ({me.DisplayName})" : "")}{(me.Admin ? ", farm admin" : "")} at {url}");
            Console.Out.WriteLine($"token {me.Token.Id}: {string.Join(", ", me.Token.Scopes)}; {(me.Token.ExpiresAt is { } e ? $"expires {e:u}" : "does not expire")}");
            Console.Out.WriteLine(me.Memberships.Count == 0
                ? "member of no project"
                : "projects: " + string.Join(", ", me.Memberships.Select(m => $"{m.Project} ({m.Role})")));
            return 0;
        }));
        return command;
    }

    /// <summary>The token from the file, else standard input: typed without echo on a terminal, else its first line.</summary>
    private static string ReadToken(string? file)
    {
        if (file is not null)
        {
            if (!File.Exists(file))
            {
                throw new CliException($"no token file {file}");
            }
            return FirstLine(File.ReadLines(file).FirstOrDefault());
        }
        if (!Console.IsInputRedirected)
        {
            Console.Error.Write("API token (input hidden): ");
            var typed = new StringBuilder();
            while (true)
            {
                var key = Console.ReadKey(intercept: true);
                if (key.Key == ConsoleKey.Enter)
                {
                    break;
                }
                if (key.Key == ConsoleKey.Backspace)
                {
                    typed.Length = Math.Max(0, typed.Length - 1);
                }
                else if (!char.IsControl(key.KeyChar) && typed.Length < 512)
                {
                    typed.Append(key.KeyChar);
                }
            }
            Console.Error.WriteLine();
            return FirstLine(typed.ToString());
        }
        return FirstLine(Console.In.ReadLine());
    }

    private static string FirstLine(string? line) => line?.Trim() is { Length: > 0 } token
        ? token
        : throw new CliException("no token given: pass --token-file FILE, or type or pipe the token on standard input");
}
