using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln notice post|list|clear</c>: operator notices, shown by every CLI command (once, on
/// standard error) and carried by every API response in the <c>Kiln-Notice</c> header.
/// </summary>
public static class NoticeCommand
{
    public static Command Create()
    {
        var command = new Command("notice", "Tell the farm's users about an incident or maintenance: post, list and clear notices.");
        command.Subcommands.Add(Post());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Clear());
        return command;
    }

    private static Command Post()
    {
        var severity = new Option<string>("--severity") { Description = "info, warning or critical", DefaultValueFactory = _ => "info" };
        severity.AcceptOnlyFromAmong("info", "warning", "critical");
        var text = new Option<string>("--text") { Description = "What users should know, one line (at most 500 characters)", Required = true };
        var from = new Option<string?>("--from") { Description = "When to start showing it: a time (2025-06-01T18:00Z) or a delay (30m, 2h, 1d); default now" };
        var until = new Option<string?>("--until") { Description = "When to stop showing it by itself: a time or a duration from its start (30m, 2h, 1d); default until cleared" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("post", "Post a notice.") { severity, text, from, until, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("notice post", parse.GetValue(server), async url =>
        {
            CliRun.NoticeShownAlready();
            var now = TimeProvider.System.GetUtcNow();
            var starts = parse.GetValue(from) is { } f ? ParseTime("--from", f, now) : (DateTimeOffset?)null;
            var ends = parse.GetValue(until) is { } u ? ParseTime("--until", u, starts ?? now) : (DateTimeOffset?)null;
            using var client = ClientSettings.Connect(url);
            var notice = await client.PostNoticeAsync(new PostNoticeRequest(parse.GetValue(severity)!, parse.GetValue(text)!, starts, ends), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(notice);
            }
            else
            {
                Console.Out.WriteLine($"notice {notice.Id} posted ({Describe(notice)}); clear it with: kiln notice clear {notice.Id}");
            }
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "Notices not yet ended: those shown now and those scheduled.") { server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("notice list", parse.GetValue(server), async url =>
        {
            CliRun.NoticeShownAlready();
            using var client = ClientSettings.Connect(url);
            var notices = await client.ListNoticesAsync(upcoming: true, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(notices);
                return 0;
            }
            if (notices.Count == 0)
            {
                Console.Out.WriteLine("no notices");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "severity", "shown", "text");
            foreach (var n in notices)
            {
                table.AddRow(n.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(n.Severity), Markup.Escape(Describe(n)), Markup.Escape(n.Text));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Clear()
    {
        var id = new Argument<long?>("id") { Description = "The notice to clear (see kiln notice list)", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Clear every notice" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("clear", "Stop showing a notice (or all of them).") { id, all, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("notice clear", parse.GetValue(server), async url =>
        {
            CliRun.NoticeShownAlready();
            var which = parse.GetValue(id);
            if ((which is null) == !parse.GetValue(all))
            {
                throw new CliException("name one notice by its id, or give --all", 2);
            }
            using var client = ClientSettings.Connect(url);
            var answer = which is { } one ? await client.ClearNoticeAsync(one, ct) : await client.ClearAllNoticesAsync(ct);
            return CliRun.PrintAction(answer, parse.GetValue(json));
        }));
        return command;
    }

    private static string Describe(NoticeView n) =>
        $"{n.Severity}, from {Views.Time(n.StartsAt)}{(n.EndsAt is { } e ? $" until {Views.Time(e)}" : " until cleared")}";

    /// <summary>An ISO 8601 time (UTC unless it says otherwise), or a duration after <paramref name="origin"/>: 90s, 30m, 2h, 1d.</summary>
    internal static DateTimeOffset ParseTime(string option, string value, DateTimeOffset origin)
    {
        var v = value.Trim();
        if (v.Length >= 2 && char.IsAsciiDigit(v[0]) && "smhd".Contains(v[^1], StringComparison.Ordinal)
            && int.TryParse(v.AsSpan(0, v.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 100_000)
        {
            return origin + v[^1] switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                _ => TimeSpan.FromDays(n),
            };
        }
        if (DateTimeOffset.TryParse(v, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
        {
            return time;
        }
        throw new CliException($"{option}: '{value}' is neither a time (2025-06-01T18:00Z) nor a duration (30m, 2h, 1d)", 2);
    }
}
