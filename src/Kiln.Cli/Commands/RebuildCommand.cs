using System.CommandLine;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln rebuild PROJECT --suite S (--packages FILE | --all-published)</c>: plans a mass rebuild,
/// then submits it in batches with progress; <c>kiln rebuild status ID</c>: how far it got and what failed to build.
/// </summary>
public static class RebuildCommand
{
    private const int Batch = 20;

    public static Command Create()
    {
        var project = new Argument<string>("project") { Description = "The project whose repository to rebuild" };
        var suite = new Option<string>("--suite") { Description = "The suite (its published source packages are rebuilt for it)", Required = true };
        var packages = new Option<string?>("--packages") { Description = "A file of source package names, one a line ('#' starts a comment)" };
        var all = new Option<bool>("--all-published") { Description = "Every source package the project's repository publishes for the suite" };
        var arch = new Option<string?>("--arch") { Description = "Architectures, comma-separated (default amd64)" };
        var environment = new Option<string?>("--environment") { Description = "Environment of the build jobs instead of debian/SUITE-ARCH" };
        var noLintian = new Option<bool>("--no-lintian") { Description = "Do not run lintian" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("rebuild", "Rebuild a suite's source packages, one workflow each at the lowest priority (mass-rebuild).")
        {
            project, suite, packages, all, arch, environment, noLintian, server, json, Status(),
        };
        command.SetAction((parse, ct) => CliRun.GuardAsync("rebuild", parse.GetValue(server), async url =>
        {
            var file = parse.GetValue(packages);
            if ((file is null) == !parse.GetValue(all))
            {
                throw new CliException("give --packages FILE or --all-published", UsageErrors.ExitCode);
            }
            List<string>? names = null;
            if (file is not null)
            {
                if (!File.Exists(file))
                {
                    throw new CliException($"{file}: no such file");
                }
                names = [.. (await File.ReadAllLinesAsync(file, ct)).Select(l => (l.Contains('#', StringComparison.Ordinal) ? l[..l.IndexOf('#', StringComparison.Ordinal)] : l).Trim()).Where(l => l.Length > 0)];
            }
            var request = new StartRebuildRequest
            {
                Suite = parse.GetValue(suite),
                Packages = names,
                AllPublished = file is null ? true : null,
                Options = new SourceBuildOptions
                {
                    Architectures = parse.GetValue(arch)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList(),
                    Environment = parse.GetValue(environment),
                    Lintian = parse.GetValue(noLintian) ? false : null,
                },
            };
            using var client = ClientSettings.Connect(url);
            var started = await client.StartRebuildAsync(parse.GetValue(project)!, request, ct);
            var asJson = parse.GetValue(json);
            if (!asJson && started.Unknown.Count > 0)
            {
                Views.Line($"[yellow]Not rebuilt[/] (not published for {Markup.Escape(request.Suite!)}): {Markup.Escape(string.Join(", ", started.Unknown.Take(20)))}{(started.Unknown.Count > 20 ? $" and {started.Unknown.Count - 20} more" : "")}");
            }
            var pending = started.Pending;
            if (pending > 0 && !asJson && AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
            {
                await AnsiConsole.Progress().AutoClear(false).StartAsync(async progress =>
                {
                    var task = progress.AddTask("submitting", maxValue: pending);
                    while (pending > 0)
                    {
                        var batch = await client.SubmitRebuildBatchAsync(started.Id, Batch, ct);
                        pending = batch.Pending;
                        task.Value = started.Pending - pending;
                        if (batch.Submitted == 0)
                        {
                            break;
                        }
                    }
                });
            }
            else
            {
                while (pending > 0)
                {
                    var batch = await client.SubmitRebuildBatchAsync(started.Id, Batch, ct);
                    pending = batch.Pending;
                    if (!asJson)
                    {
                        Console.Out.WriteLine($"submitted {started.Pending - pending} of {started.Pending}");
                    }
                    if (batch.Submitted == 0)
                    {
                        break;
                    }
                }
            }
            if (asJson)
            {
                CliRun.PrintJson(started with { Pending = pending });
                return 0;
            }
            Views.Line(started.Created
                ? $"Rebuild [bold]{started.Id}[/]: {started.Total} source packages submitted at the mass-rebuild priority. Follow it: [bold]kiln rebuild status {started.Id}[/]"
                : $"Rebuild [bold]{started.Id}[/] was asked for before with the same packages: nothing new. Follow it: [bold]kiln rebuild status {started.Id}[/]");
            return 0;
        }));
        return command;
    }

    private static Command Status()
    {
        var id = new Argument<long>("id") { Description = "The rebuild's id (kiln rebuild prints it)" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("status", "A rebuild's progress by workflow state, and what failed to build.") { id, server, json };
        command.SetAction((parse, ct) => CliRun.GuardAsync("rebuild status", parse.GetValue(server), async url =>
        {
            using var client = ClientSettings.Connect(url);
            var view = await client.GetRebuildAsync(parse.GetValue(id), ct);
            if (parse.GetValue(json))
            {
                CliRun.PrintJson(view);
                return 0;
            }
            Views.Line($"Rebuild [bold]{view.Id}[/] of {Markup.Escape(view.Project)} for {Markup.Escape(view.Suite)}: {view.Total} packages — "
                + string.Join(", ", view.States.Select(s => $"{s.Value} {Views.State(s.Key)}")));
            if (view.Failures.Count > 0)
            {
                var table = new Table().Border(TableBorder.Rounded).Title("failed to build").AddColumns("package", "version", "workflow", "failed job");
                foreach (var f in view.Failures)
                {
                    table.AddRow(Markup.Escape(f.Package), Markup.Escape(f.Version), f.WorkflowId.ToString(System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(f.Job ?? "(cancelled)"));
                }
                AnsiConsole.Write(table);
            }
            return 0;
        }));
        return command;
    }
}
