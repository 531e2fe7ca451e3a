using System.CommandLine;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln events list|show|pause|resume</c>: what came in and what it caused (docs/events.md).</summary>
public static class EventsCommand
{
    public static Command Create()
    {
        var command = new Command("events", "Events received (webhooks, Koji messages, schedules, runs by hand) and what each caused; pause and resume.");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Pause(true));
        command.Subcommands.Add(Pause(false));
        command.Subcommands.Add(EventsReconcileCommand.Create());
        return command;
    }

    private static Command List()
    {
        var source = new Option<string?>("--source") { Description = "Only this source (github, gitlab, forgejo, koji, schedule, manual)" };
        var state = new Option<string?>("--state") { Description = "Only this state (received, processed, ignored, rejected)" };
        var project = new Option<string?>("--project") { Description = "Only events of this project" };
        var limit = new Option<int>("--limit") { Description = "How many (newest first)", DefaultValueFactory = _ => 50 };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "Events, newest first, each with what it caused in one line.") { source, state, project, limit, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("events list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var page = await client.ListEventsAsync(parse.GetValue(source), parse.GetValue(state), parse.GetValue(project), parse.GetValue(limit), null, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(page);
                return 0;
            }
            if (page.Items.Count == 0)
            {
                Console.Out.WriteLine("no events");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "source", "type", "state", "received", "what it caused");
            foreach (var e in page.Items)
            {
                table.AddRow(e.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(e.Source), Markup.Escape(e.Type),
                    Markup.Escape(e.State), Markup.Escape(Views.Time(e.ReceivedAt)), Markup.Escape(e.Summary));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var id = new Argument<long>("id") { Description = "The event" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("show", "One event: what it was and everything it caused, in order.") { id, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("events show", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var view = await client.GetEventAsync(parse.GetValue(id), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(view);
                return 0;
            }
            var f = view.Facts;
            Console.Out.WriteLine($"event {view.Id}: {view.Source} {view.Type}, {view.State}; received {Views.Time(view.ReceivedAt)}"
                + (view.ProcessedAt is { } at ? $", processed {Views.Time(at)}" : ""));
            foreach (var (name, value) in new (string, string?)[]
            {
                ("delivery", view.DeliveryKey), ("repository", f.Repository), ("ref", f.Ref), ("sha", f.Sha), ("pull request", f.PullRequest?.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("build", f.Package is { } p ? $"{p}-{f.Version}-{f.Release}" : null), ("koji tag", f.KojiTag), ("rule", f.Rule is { } r ? $"{f.Project}/{r}" : null),
                ("slot", f.Slot is { } s ? Views.Time(s) : null), ("sender", f.Sender),
            })
            {
                if (value is not null)
                {
                    Console.Out.WriteLine($"  {name}: {value}");
                }
            }
            PrintEffects(view);
            return 0;
        }));
        return command;
    }

    private static Command Pause(bool paused)
    {
        var verb = paused ? "pause" : "resume";
        var source = new Option<string?>("--source") { Description = $"{(paused ? "Pause" : "Resume")} a whole source (admins): github, gitlab, forgejo, koji, schedule, manual" };
        var link = new Option<long?>("--link") { Description = "A repository link (its project's owners)" };
        var project = new Option<string?>("--project") { Description = "With --rule: the rule's project (its owners)" };
        var rule = new Option<string?>("--rule") { Description = "With --project: the rule" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command(verb, paused
            ? "Pause a source, a link or a rule: events are still verified and stored, and kept until resume."
            : "Resume a source, a link or a rule: its kept events are processed in arrival order, once, through the input-change check and the storm guard.")
        { source, link, project, rule, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync($"events {verb}", parse.GetValue(server), async url =>
        {
            var target = new EventPauseRequest(parse.GetValue(source), parse.GetValue(link), parse.GetValue(project), parse.GetValue(rule));
            var named = (target.Source is null ? 0 : 1) + (target.Link is null ? 0 : 1) + (target.Project is null && target.Rule is null ? 0 : 1);
            if (named != 1 || (target.Project is null) != (target.Rule is null))
            {
                throw new CliException($"name one thing to {verb}: --source S, --link ID, or --project P --rule R", UsageErrors.ExitCode);
            }
            using var client = ClientSettings.Connect(url);
            var answer = await client.PauseEventsAsync(target, paused, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(answer);
            }
            else
            {
                Console.Out.WriteLine(paused
                    ? $"{answer.Target} paused: its events are kept ({answer.Backlog} waiting)"
                    : $"{answer.Target} resumed: {answer.Backlog} kept event(s) to process, in arrival order");
            }
            return 0;
        }));
        return command;
    }

    /// <summary>Each effect on its own line, as <c>kind: message</c>.</summary>
    public static void PrintEffects(EventView view)
    {
        if (view.Effects.Count == 0)
        {
            Console.Out.WriteLine(view.State == EventStates.Received ? "  not processed yet" : "  no effects");
        }
        foreach (var e in view.Effects)
        {
            Console.Out.WriteLine($"  {e.Kind}: {e.Message}");
        }
    }

    /// <summary>The event once processed (or as it stands after 30 s: processing is asynchronous).</summary>
    public static async Task<EventView> WaitProcessedAsync(KilnClient client, long id, CancellationToken ct)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var view = await client.GetEventAsync(id, ct);
            if (view.State != EventStates.Received || waited.Elapsed > TimeSpan.FromSeconds(30))
            {
                return view;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(250), ct);
        }
    }
}
