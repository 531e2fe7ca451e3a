using System.Globalization;
using System.Text.Json;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// How <c>kiln show</c> prints a job's execution (kind, parameters, environment) and its structured result:
/// package, version and architecture, files, lintian tags by severity, tests by outcome, regressions.
/// <c>--json</c> prints the whole result instead.
/// </summary>
internal static class ResultLines
{
    private static readonly string[] Severities = ["error", "warning", "info", "pedantic", "experimental"];

    public static void Execution(JobExecution? execution)
    {
        if (execution is null)
        {
            return;
        }
        var parts = new List<string>();
        if (execution.Uses is { } uses)
        {
            var with = execution.With is { Count: > 0 } w ? " with " + string.Join(", ", w.Where(p => p.Value.Length > 0).Select(p => $"{p.Key}={p.Value}")) : "";
            parts.Add($"uses {uses}{with}");
        }
        if (execution.Environment is { } env)
        {
            parts.Add($"environment {env.Name}@{env.Version}" + (execution.OnHost ? " (tarball, on the host)" : "") + (execution.Network ? ", network" : ", no network"));
        }
        if (parts.Count > 0)
        {
            Views.Line(Markup.Escape(string.Join("; ", parts)));
        }
    }

    public static void Result(WorkRequestResult? result)
    {
        if (result is null)
        {
            return;
        }
        var r = result.Result;
        var head = new List<string>();
        if (Text(r, "status") is { } status)
        {
            head.Add($"status {status}" + (Text(r, "failStage") is { } stage ? $" (fail stage {stage})" : ""));
        }
        var package = Text(r, "package");
        if (package is not null)
        {
            var version = Text(r, "version") is { } v ? " " + v + (Text(r, "release") is { } rel ? "-" + rel : "") : "";
            head.Add(package + version + (Text(r, "architecture") is { } a ? " on " + a : ""));
        }
        Views.Line(Markup.Escape($"result of attempt {result.Attempt}: " + (head.Count > 0 ? string.Join(", ", head) : "(no summary fields)")));
        if (r.TryGetProperty("counts", out var counts) && counts.ValueKind == JsonValueKind.Object)
        {
            Views.Line(Markup.Escape("lintian: " + string.Join(", ", Severities.Where(s => counts.TryGetProperty(s, out _)).Select(s => $"{Number(counts, s)} {s}"))));
        }
        if (r.TryGetProperty("tests", out var tests) && tests.ValueKind == JsonValueKind.Array)
        {
            var byOutcome = tests.EnumerateArray().Select(t => Text(t, "result") ?? "?").GroupBy(o => o).Select(g => $"{g.Count()} {g.Key.ToLowerInvariant()}");
            Views.Line(Markup.Escape($"tests: {tests.GetArrayLength()} ({string.Join(", ", byOutcome)})"));
        }
        if (Names(r, "regressions") is { Count: > 0 } regressions)
        {
            Views.Line($"[red]regressions[/]: {Markup.Escape(string.Join(", ", regressions))}");
        }
        if (Names(r, "improvements") is { Count: > 0 } improvements)
        {
            Views.Line($"[green]improvements[/]: {Markup.Escape(string.Join(", ", improvements))}");
        }
        if (r.TryGetProperty("files", out var files) && files.ValueKind == JsonValueKind.Array && files.GetArrayLength() > 0)
        {
            var table = new Table().Border(TableBorder.Rounded).Title("files").AddColumns("name", "size", "sha256");
            foreach (var f in files.EnumerateArray())
            {
                var sha = Text(f, "sha256") ?? "";
                table.AddRow(Markup.Escape(Text(f, "name") ?? "?"), f.TryGetProperty("size", out var size) && size.TryGetInt64(out var n) ? Views.Bytes(n) : "",
                    Markup.Escape(sha.Length > 16 ? sha[..16] + "…" : sha));
            }
            AnsiConsole.Write(table);
        }
    }

    public static void Regressions(IReadOnlyList<WorkflowRegression>? regressions)
    {
        if (regressions is not { Count: > 0 })
        {
            return;
        }
        Views.Line($"[red]{regressions.Count} regression(s)[/]: " + Markup.Escape(string.Join(", ", regressions.Select(r => $"{r.Test} ({r.Job}{(r.Architecture is { } a ? ", " + a : "")})"))));
    }

    private static string? Text(JsonElement e, string property) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Number(JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.TryGetInt64(out var n) ? n.ToString(CultureInfo.InvariantCulture) : "?";

    private static List<string> Names(JsonElement e, string property) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.Array
            ? [.. v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!)]
            : [];
}
