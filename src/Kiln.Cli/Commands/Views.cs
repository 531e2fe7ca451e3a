using System.Globalization;
using Kiln.Contracts;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>How workflows, jobs and workers look in a terminal.</summary>
public static class Views
{
    /// <summary>Piped output has no terminal width; do not wrap tables and lines at 80 columns then.</summary>
    public static void FitConsole()
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 240;
        }
    }

    /// <summary>A line of markup; plain text when the output is not a terminal.</summary>
    public static void Line(string markup)
    {
        if (Console.IsOutputRedirected)
        {
            Console.Out.WriteLine(Markup.Remove(markup));
        }
        else
        {
            AnsiConsole.MarkupLine(markup);
        }
    }

    public static string State(string state) => state switch
    {
        "succeeded" => "[green]succeeded[/]",
        "failed" => "[red]failed[/]",
        "running" => "[blue]running[/]",
        "pending" => "[yellow]pending[/]",
        "blocked" => "[grey]blocked[/]",
        "skipped" => "[grey]skipped[/]",
        "cancelled" => "[darkorange]cancelled[/]",
        _ => Markup.Escape(state),
    };

    public static string Time(DateTimeOffset? t) => t?.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "";

    public static string Duration(DateTimeOffset? start, DateTimeOffset? end, DateTimeOffset now)
    {
        if (start is null)
        {
            return "";
        }
        var span = (end ?? now) - start.Value;
        return span.TotalHours >= 1 ? $"{(int)span.TotalHours}h{span.Minutes:00}m" : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes}m{span.Seconds:00}s" : $"{Math.Max(0, span.TotalSeconds):0.0}s";
    }

    public static string Bytes(long n) => n switch
    {
        >= 1L << 30 => $"{n / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{n / 1024.0:0.0} KiB",
        _ => $"{n} B",
    };

    /// <summary>"████████░░░░ 5/8 done" from a workflow's counters.</summary>
    public static string Progress(WorkflowCounts counts, int width = 30)
    {
        var done = counts.Total - counts.Unfinished;
        var filled = counts.Total == 0 ? width : (int)Math.Round(width * (double)done / counts.Total);
        var color = counts.Failed > 0 ? "red" : counts.Cancelled + counts.Skipped > 0 ? "darkorange" : "green";
        return $"[{color}]{new string('█', filled)}[/][grey]{new string('░', width - filled)}[/] {done}/{counts.Total} done";
    }

    public static Table Jobs(WorkflowView workflow, DateTimeOffset now)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "job", "state", "attempt", "arch", "time");
        foreach (var job in workflow.Jobs ?? [])
        {
            table.AddRow(
                job.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(job.Name), State(job.State),
                job.Attempt.ToString(CultureInfo.InvariantCulture), Markup.Escape(job.Architecture ?? "any"),
                Duration(job.StartedAt, job.FinishedAt, now));
        }
        return table;
    }

    /// <summary>One row per job (a matrix job's entries together) with its count in each state.</summary>
    public static Table JobGroups(IReadOnlyList<WorkRequestSummary> jobs, IReadOnlyList<string> states)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("job").AddColumn("entries");
        foreach (var state in states)
        {
            table.AddColumn(new TableColumn(State(state)).RightAligned());
        }
        foreach (var group in jobs.GroupBy(j => j.Name.IndexOf('[', StringComparison.Ordinal) is var b and > 0 ? j.Name[..b] + "[…]" : j.Name))
        {
            var cells = new List<string> { Markup.Escape(group.Key), group.Count().ToString(CultureInfo.InvariantCulture) };
            cells.AddRange(states.Select(s => group.Count(j => j.State == s) is var n and > 0 ? n.ToString(CultureInfo.InvariantCulture) : ""));
            table.AddRow([.. cells]);
        }
        return table;
    }

    public static string Headline(WorkflowView w) =>
        $"Workflow [bold]{w.Id}[/] [bold]{Markup.Escape(w.Name)}[/] ({Markup.Escape(w.Project)}): {State(w.State)}";
}
