using System.CommandLine;
using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln hooks add|list|show|enable|disable|remove|rotate|deliveries|redeliver</c>: a project's
/// outgoing webhooks (docs/outgoing-webhooks.md). The signing secret is made by Kiln and printed
/// once, by <c>add</c> and <c>rotate</c>.
/// </summary>
public static class HooksCommand
{
    public static Command Create()
    {
        var command = new Command("hooks", "Outgoing webhooks of a project: Standard Webhooks deliveries of workflow, job and event changes (docs/outgoing-webhooks.md).");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(List());
        command.Subcommands.Add(ById("show", "One webhook (never its secret).", (c, id, ct) => c.GetWebhookAsync(id, ct), Print));
        command.Subcommands.Add(ById("enable", "Turn a webhook on.", (c, id, ct) => c.UpdateWebhookAsync(id, new UpdateWebhookRequest(Enabled: true), ct), Print));
        command.Subcommands.Add(ById("disable", "Turn a webhook off: nothing is sent to it until it is enabled again.", (c, id, ct) => c.UpdateWebhookAsync(id, new UpdateWebhookRequest(Enabled: false), ct), Print));
        command.Subcommands.Add(ById("remove", "Remove a webhook and its deliveries.", (c, id, ct) => c.DeleteWebhookAsync(id, ct), a => Console.Out.WriteLine(a.Message)));
        command.Subcommands.Add(ById("rotate", "Make a new signing secret, printed once.", (c, id, ct) => c.RotateWebhookSecretAsync(id, ct), PrintSecret));
        command.Subcommands.Add(Deliveries());
        command.Subcommands.Add(Redeliver());
        return command;
    }

    private static Command Add()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var target = new Argument<string>("url") { Description = "Where Kiln POSTs (http or https)" };
        var events = new Option<string?>("--events") { Description = "Comma-separated: workflow, job, event (default all)" };
        var description = new Option<string?>("--description") { Description = "A note (at most 200 characters)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("add", "Subscribe a URL to the project's changes; prints the signing secret once.") { project, target, events, description, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("hooks add", parse.GetValue(server), async url =>
        {
            var list = parse.GetValue(events) is { } text ? text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null;
            using var client = ClientSettings.Connect(url);
            var made = await client.CreateWebhookAsync(parse.GetValue(project)!, new CreateWebhookRequest(parse.GetValue(target), list, parse.GetValue(description)), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(made);
                return 0;
            }
            PrintSecret(made);
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var project = new Argument<string>("project") { Description = "The project" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("list", "The project's outgoing webhooks.") { project, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("hooks list", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var hooks = await client.ListWebhooksAsync(parse.GetValue(project)!, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(hooks);
                return 0;
            }
            if (hooks.Count == 0)
            {
                Console.Out.WriteLine($"project '{parse.GetValue(project)}' has no webhook; add one with: kiln hooks add {parse.GetValue(project)} URL");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "url", "events", "enabled", "description");
            foreach (var h in hooks)
            {
                table.AddRow(Markup.Escape(h.Id.ToString(CultureInfo.InvariantCulture)), Markup.Escape(h.Url), Markup.Escape(string.Join(',', h.Events)),
                    h.Enabled ? "yes" : "no", Markup.Escape(h.Description ?? ""));
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Deliveries()
    {
        var id = new Argument<long>("id") { Description = "The webhook's id (kiln hooks list PROJECT)" };
        var limit = new Option<int?>("--limit") { Description = "At most this many (1–500, default 50), newest first" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("deliveries", "The webhook's deliveries, newest first, with their answers.") { id, limit, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("hooks deliveries", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var page = await client.ListWebhookDeliveriesAsync(parse.GetValue(id), parse.GetValue(limit), null, ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(page);
                return 0;
            }
            if (page.Items.Count == 0)
            {
                Console.Out.WriteLine($"webhook {parse.GetValue(id)} has no delivery yet");
                return 0;
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "message id", "type", "state", "code", "answer", "ms", "at", "redelivery of");
            foreach (var d in page.Items)
            {
                table.AddRow(Markup.Escape(d.Id.ToString(CultureInfo.InvariantCulture)), Markup.Escape(d.MessageId ?? "-"), Markup.Escape(d.EventType ?? "-"),
                    Markup.Escape(d.State), d.StatusCode?.ToString(CultureInfo.InvariantCulture) ?? "-", Markup.Escape(Clip(d.Answer ?? d.Error ?? "")),
                    d.DurationMs.ToString(CultureInfo.InvariantCulture), Markup.Escape(Views.Time(d.AttemptedAt)),
                    d.RedeliveryOf?.ToString(CultureInfo.InvariantCulture) ?? "");
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Redeliver()
    {
        var id = new Argument<long>("delivery") { Description = "The delivery's id (kiln hooks deliveries ID)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("redeliver", "Send a delivery again, same webhook-id and body, freshly signed.") { id, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("hooks redeliver", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            return CliRun.PrintAction(await client.RedeliverWebhookAsync(parse.GetValue(id), ct), parse.GetValue(json));
        }));
        return command;
    }

    private static Command ById<T>(string name, string description, Func<KilnClient, long, CancellationToken, Task<T>> call, Action<T> print)
    {
        var id = new Argument<long>("id") { Description = "The webhook's id (kiln hooks list PROJECT)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command(name, description) { id, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync($"hooks {name}", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var answer = await call(client, parse.GetValue(id), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(answer);
            }
            else
            {
                print(answer);
            }
            return 0;
        }));
        return command;
    }

    private static void Print(WebhookView h)
    {
        Console.Out.WriteLine($"webhook {h.Id} of project '{h.Project}': {h.Url}");
        Console.Out.WriteLine($"events: {string.Join(',', h.Events)}; {(h.Enabled ? "enabled" : "disabled")}{(h.Description is null ? "" : "; " + h.Description)}");
    }

    private static void PrintSecret(WebhookSecretView made)
    {
        Print(made.Webhook);
        Console.Out.WriteLine($"signing secret: {made.Secret}");
        Console.Out.WriteLine("store it now: Kiln keeps it sealed and never shows it again (kiln hooks rotate makes a new one)");
    }

    private static string Clip(string text) => text.Length > 60 ? text[..60] + "…" : text;
}
