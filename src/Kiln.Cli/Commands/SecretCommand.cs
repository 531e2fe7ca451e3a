using System.CommandLine;
using System.Text;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Secrets;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln secret set|list|delete</c>: a project owner's secrets. A value is read from standard
/// input only — without echo at a terminal, else all of it (one trailing newline dropped) — never
/// from the command line, where other users' <c>ps</c> and the shell's history would see it.
/// </summary>
public static class SecretCommand
{
    public static Command Create()
    {
        var command = new Command("secret", "A project's secrets, handed to the jobs that name them (secrets: in the workflow file) on trusted pools' workers.");
        command.Subcommands.Add(Set());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Delete());
        return command;
    }

    private static Command Set()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var name = new Argument<string>("name") { Description = "The secret's name, also the task's environment variable (A-Z, 0-9, _)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("set", "Set a secret; the value is read from standard input (typed without echo at a terminal).") { project, name, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("secret set", parse.GetValue(server), async url =>
        {
            var secret = CheckName(parse.GetValue(name)!);
            var value = ReadValue(secret);
            using var client = ClientSettings.Connect(url);
            var set = await client.SetSecretAsync(parse.GetValue(project)!, secret, value, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(set);
            }
            else
            {
                Console.Out.WriteLine($"secret '{set.Name}' of project '{parse.GetValue(project)}' set (key {set.KeyId})");
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
        var command = new Command("list", "The project's secrets by name, with who set them when (never their values).") { project, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("secret list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var secrets = await client.ListSecretsAsync(parse.GetValue(project)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(secrets);
                return 0;
            }
            if (secrets.Count == 0)
            {
                Console.Out.WriteLine($"project '{parse.GetValue(project)}' has no secrets; set one with: kiln secret set {parse.GetValue(project)} NAME");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("name", "updated", "by", "key");
            foreach (var s in secrets)
            {
                table.AddRow(Markup.Escape(s.Name), Markup.Escape(Views.Time(s.UpdatedAt)), Markup.Escape(s.UpdatedBy ?? "-"), Markup.Escape(s.KeyId));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Delete()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var name = new Argument<string>("name") { Description = "The secret to delete" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("delete", "Delete a secret; jobs that name it then fail to start, saying so.") { project, name, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("secret delete", parse.GetValue(server), async url =>
        {
            var secret = CheckName(parse.GetValue(name)!);
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.DeleteSecretAsync(parse.GetValue(project)!, secret, ct), parse.GetValue(json));
        }));
        return command;
    }

    private static string CheckName(string name) => Names.SecretName().IsMatch(name)
        ? name
        : throw new CliException($"'{name}' is not a secret name: upper-case letters, digits and '_', not starting with a digit, at most 100", 2);

    /// <summary>The value from standard input: typed without echo at a terminal, else all of it with one trailing newline dropped.</summary>
    private static string ReadValue(string name)
    {
        string value;
        if (!Console.IsInputRedirected)
        {
            Console.Error.Write($"value of {name} (not shown; Enter ends it): ");
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
                else if (key.KeyChar != '\0')
                {
                    typed.Append(key.KeyChar);
                }
                if (typed.Length > SecretBox.MaxValueBytes)
                {
                    break;
                }
            }
            Console.Error.WriteLine();
            value = typed.ToString();
        }
        else
        {
            using var stdin = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false, throwOnInvalidBytes: true));
            var buffer = new char[SecretBox.MaxValueBytes + 3];
            var length = 0;
            int read;
            while (length < buffer.Length && (read = stdin.Read(buffer, length, buffer.Length - length)) > 0)
            {
                length += read;
            }
            value = new string(buffer, 0, length);
            Array.Clear(buffer);
            value = value.EndsWith("\r\n", StringComparison.Ordinal) ? value[..^2] : value.EndsWith('\n') ? value[..^1] : value;
        }
        if (Encoding.UTF8.GetByteCount(value) > SecretBox.MaxValueBytes)
        {
            throw new CliException($"a secret value is at most {SecretBox.MaxValueBytes} bytes", 1);
        }
        if (value.Length == 0)
        {
            throw new CliException("no value: give it on standard input (e.g. kiln secret set PROJECT NAME < file)", 2);
        }
        return value;
    }
}
