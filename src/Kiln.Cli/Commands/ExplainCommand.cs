using System.CommandLine;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln explain REF</c>: why a job is not running, in words.</summary>
public static class ExplainCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("ref") { Description = "WORKFLOW/JOB (e.g. 7/build[amd64]) or a work request id" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("explain", "Say why a job is waiting (or what it is doing).") { target, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("explain", parse.GetValue(server), async url =>
        {
            using var client = new KilnClient(url);
            var id = await JobReference.Parse(parse.GetValue(target)!).WorkRequestIdAsync(client, ct);
            var view = await client.ExplainAsync(id, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(view);
                return 0;
            }
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(view.Name)}[/] ({view.Id}) is {Views.State(view.State)}: {Markup.Escape(view.Summary)}");
            foreach (var reason in view.Reasons.Skip(1))
            {
                AnsiConsole.MarkupLine($"  - {Markup.Escape(reason.Message)}");
            }
            return 0;
        }));
        return command;
    }
}
