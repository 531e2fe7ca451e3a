using System.CommandLine;
using Kiln.Cli.Workflows;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln submit FILE [-p NAME=VALUE]… [--watch]</c>: send a workflow file to the server.</summary>
public static class SubmitCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "Workflow file (.yaml, .yml or .json)" };
        var watch = new Option<bool>("--watch", "-w") { Description = "Follow the workflow until it finishes; exit code 0 only if it succeeded" };
        var project = new Option<string?>("--project") { Description = "Project to submit to (overrides the file's 'project')" };
        var parameters = new Option<string[]>("--param", "-p") { Description = "A workflow parameter, NAME=VALUE (repeatable; overrides the file's 'params')" };
        var branch = new Option<string?>("--branch") { Description = "The branch the workflow is for ('branch' in if: conditions; overrides the file's)" };
        var key = new Option<string?>("--idempotency-key") { Description = "Submitting again with the same key returns the same workflow" };
        var server = ClientSettings.ServerOption();
        var json = ClientSettings.JsonOption();
        var command = new Command("submit", "Submit a workflow file.") { file, parameters, branch, watch, project, key, server, json };
        command.SetAction((parse, ct) =>
        {
            return CliRun.GuardAsync("submit", parse.GetValue(server), async url =>
            {
                var workflow = WorkflowFile.Load(parse.GetValue(file)!);
                var document = workflow.Document with
                {
                    Project = parse.GetValue(project) ?? workflow.Document.Project,
                    IdempotencyKey = parse.GetValue(key) ?? workflow.Document.IdempotencyKey,
                    Branch = parse.GetValue(branch) ?? workflow.Document.Branch,
                    Params = WithParameters(workflow.Document.Params, parse.GetValue(parameters) ?? []),
                };
                using var client = ClientSettings.Connect(url);
                var answer = await SubmitAsync(client, workflow, document, ct);
                var asJson = parse.GetValue(json);
                if (!parse.GetValue(watch))
                {
                    if (asJson)
                    {
                        CliRun.PrintJson(answer);
                    }
                    else
                    {
                        Views.Line(answer.Created
                            ? $"Submitted workflow [bold]{answer.Id}[/] ({answer.WorkRequests} work requests). Follow it: [bold]kiln watch {answer.Id}[/]"
                            : $"Workflow [bold]{answer.Id}[/] was already submitted with this idempotency key. Follow it: [bold]kiln watch {answer.Id}[/]");
                        PrintOmitted(answer);
                    }
                    return 0;
                }
                if (!asJson)
                {
                    Views.Line($"Submitted workflow [bold]{answer.Id}[/] ({answer.WorkRequests} work requests)");
                    PrintOmitted(answer);
                }
                var views = await WorkflowWatcher.WatchAsync(client, [answer.Id], asJson, TimeProvider.System, ct);
                return WorkflowWatcher.ExitCode(views);
            });
        });
        return command;
    }

    /// <summary>The file's <c>params</c> with each <c>-p NAME=VALUE</c> applied; a malformed or repeated one is a usage error.</summary>
    public static Dictionary<string, string>? WithParameters(Dictionary<string, string>? fromFile, IReadOnlyList<string> options)
    {
        if (options.Count == 0)
        {
            return fromFile;
        }
        var values = new Dictionary<string, string>(fromFile ?? [], StringComparer.Ordinal);
        var given = new HashSet<string>(StringComparer.Ordinal);
        foreach (var option in options)
        {
            var eq = option.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new CliException($"-p '{option}': a parameter is NAME=VALUE, e.g. -p suite=bookworm", UsageErrors.ExitCode);
            }
            var name = option[..eq];
            if (!given.Add(name))
            {
                throw new CliException($"-p {name}: given twice; give each parameter once", UsageErrors.ExitCode);
            }
            values[name] = option[(eq + 1)..];
        }
        return values;
    }

    private static void PrintOmitted(SubmitWorkflowResponse answer)
    {
        if (answer.Omitted is { Count: > 0 } omitted)
        {
            Views.Line($"Not created (their [bold]if:[/] is false): {Markup.Escape(string.Join(", ", omitted.Take(20)))}{(omitted.Count > 20 ? $" and {omitted.Count - 20} more" : "")}");
        }
    }

    /// <summary>Submits, turning the server's field errors into "file:line: field: message" lines.</summary>
    public static async Task<SubmitWorkflowResponse> SubmitAsync(KilnClient client, WorkflowFile file, WorkflowDocument document, CancellationToken ct)
    {
        try
        {
            return await client.SubmitAsync(document, ct);
        }
        catch (KilnApiException e) when (e.Errors.Count > 0)
        {
            throw new CliException($"{file.Path} was refused:\n  " + string.Join("\n  ", e.Errors.Select(file.Describe)));
        }
    }
}
