using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln status-reports WORKFLOW [--retry]</c>: per forge status and webhook target of a workflow,
/// the state it should show (now) against the one the other side acknowledged, attempts, the last
/// answer and the next try (docs/status-reports.md).
/// </summary>
public static class StatusReportsCommand
{
    public static Command Create()
    {
        var workflow = new Argument<long>("workflow") { Description = "Workflow id" };
        var retry = new Option<bool>("--retry") { Description = "Try again the targets that failed for good (after fixing the token or the repository)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("status-reports", "What the forges and webhook subscribers of a workflow were told: desired vs acknowledged state, attempts, last answer, next try.")
        {
            workflow, retry, server, json,
        };
        command.SetAction((parse, ct) => CliRun.GuardAsync("status-reports", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var id = parse.GetValue(workflow);
            if (parse.GetValue(retry))
            {
                var retried = await client.RetryStatusReportsAsync(id, ct);
                if (parse.GetValue(json))
                {
                    CliRun.PrintJson(retried);
                }
                else
                {
                    Console.Out.WriteLine(retried.Message);
                }
                return 0;
            }
            var view = await client.GetStatusReportsAsync(id, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(view);
                return 0;
            }
            if (view.Targets.Count == 0)
            {
                Console.Out.WriteLine($"workflow {id} reports to no forge and no webhook: its event came through no repository link with a token (or App installation), and its project has no webhooks (kiln hooks add)");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("target", "where", "desired", "acknowledged", "attempts", "writes", "last answer", "next try");
            foreach (var t in view.Targets)
            {
                var where = t.Kind.StartsWith("hook-", StringComparison.Ordinal) ? $"{t.Where} ({t.Kind[5..]}{(t.Job is null ? "" : " " + t.Job)})" : $"{t.Where} {t.Context}";
                var next = t.Failed is not null ? "failed: not retried"
                    : t.Done ? "done"
                    : t.NextTryAt is { } at ? Views.Time(at) + (t.PausedUntil is not null ? " (paused)" : "")
                    : "-";
                table.AddRow(t.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(where), Markup.Escape(t.Desired), Markup.Escape(t.Acknowledged ?? "-"),
                    t.Attempts.ToString(CultureInfo.InvariantCulture), t.Writes.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(Clip(t.LastAnswer ?? "-")), Markup.Escape(next));
            }
            AnsiConsole.Write(table);
            if (view.Targets.FirstOrDefault(t => t.PausedUntil is not null) is { } paused)
            {
                Views.Line($"[yellow]{Markup.Escape(paused.Channel)} is paused until {Views.Time(paused.PausedUntil!.Value)}: {Markup.Escape(paused.PauseReason ?? "rate limit")}; nothing is written to it before then[/]");
            }
            if (view.Targets.Any(t => t.Failed is not null))
            {
                Views.Line($"[red]some targets failed for good (see last answer); fix the token or link (kiln repo link …), then: kiln status-reports {id} --retry[/]");
            }
            return 0;
        }));
        return command;
    }

    private static string Clip(string text) => text.Length > 60 ? text[..57] + "..." : text;
}
