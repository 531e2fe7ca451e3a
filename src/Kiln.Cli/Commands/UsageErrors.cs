using System.CommandLine;
using System.CommandLine.Parsing;

namespace Kiln.Cli.Commands;

/// <summary>
/// A command line that does not parse: the error in one line per problem, the usage of the
/// command that failed (not the whole help), and exit code 2 (docs/cli.md, "exit codes").
/// </summary>
public static class UsageErrors
{
    public const int ExitCode = 2;

    public static int Report(ParseResult parse)
    {
        var path = new List<string>();
        for (SymbolResult? r = parse.CommandResult; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                path.Insert(0, c.Command.Name);
            }
        }
        var name = string.Join(' ', path);
        var command = parse.CommandResult.Command;
        foreach (var error in parse.Errors.Select(e => e.Message).Distinct())
        {
            Console.Error.WriteLine($"{name}: {error}");
        }
        var usage = new List<string> { name };
        if (command.Subcommands.Count > 0)
        {
            usage.Add("COMMAND");
        }
        usage.AddRange(command.Arguments.Where(a => !a.Hidden).Select(a => a.Arity.MaximumNumberOfValues > 1 ? $"<{a.Name}>…" : $"<{a.Name}>"));
        if (command.Options.Any(o => !o.Hidden))
        {
            usage.Add("[options]");
        }
        Console.Error.WriteLine($"usage: {string.Join(' ', usage)}");
        if (command.Subcommands.Count > 0)
        {
            Console.Error.WriteLine($"commands: {string.Join(", ", command.Subcommands.Where(s => !s.Hidden).Select(s => s.Name))}");
        }
        Console.Error.WriteLine($"more: {name} --help");
        return ExitCode;
    }
}
