using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// <c>GET /metrics</c> through a real server and a real Prometheus parser: promtool (Debian's
/// <c>prometheus</c> package, installed by .ci/run) checks the exposition, and the values are
/// read back to see a job's claim, report and end move them.
/// </summary>
public sealed partial class MetricsTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    /// <summary>Present from the first scrape (labelled series appear with their first observation).</summary>
    private static readonly string[] Always =
    [
        "kiln_claimed_work_requests_total", "kiln_claimed_retries_total", "kiln_claim_duration_seconds_bucket",
        "kiln_workers_online", "kiln_worker_slots", "kiln_leader", "kiln_database_up",
        "kiln_db_tuple_writes_total", "kiln_db_tuples", "kiln_db_longest_transaction_seconds", "kiln_db_lock_waits", "kiln_db_deadlocks_total",
    ];

    private static readonly string[] Documented =
    [
        "kiln_claims_total", "kiln_claimed_work_requests_total", "kiln_claimed_retries_total", "kiln_claim_duration_seconds_bucket",
        "kiln_reports_total", "kiln_report_duration_seconds_bucket",
        "kiln_attempts_total", "kiln_attempt_run_seconds_bucket", "kiln_queue_wait_seconds_bucket",
        "kiln_work_requests", "kiln_workers_online", "kiln_worker_slots", "kiln_leader", "kiln_database_up",
        "kiln_db_tuple_writes_total", "kiln_db_tuples", "kiln_db_longest_transaction_seconds", "kiln_db_lock_waits", "kiln_db_deadlocks_total",
    ];

    [Fact]
    public async Task The_metrics_page_passes_promtool_and_has_the_farm_and_database_metrics_from_the_start()
    {
        var text = await server.Client.GetStringAsync("/metrics");

        var (exit, output) = await PromtoolCheckAsync(text);
        Assert.True(exit == 0, $"promtool check metrics failed:\n{output}");
        var names = Samples(text).Select(s => s.Name).ToHashSet();
        Assert.All(Always, name => Assert.Contains(name, names));
        Assert.Equal(1, Value(text, "kiln_database_up"));
        Assert.Contains(Samples(text), s => s.Name == "kiln_db_tuple_writes_total" && s.Labels.Contains("table=\"work_requests\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_job_claimed_reported_and_ended_moves_the_counters_of_its_project()
    {
        using var worker = await server.RegisterWorkerAsync("metrics-worker", queues: ["metrics"], slots: 2);
        var project = "metrics-" + Guid.NewGuid().ToString("N")[..8];
        using var submit = await server.Client.PostAsJsonAsync("/api/v1/workflows",
            new WorkflowDocument { Project = project, Jobs = new() { ["build"] = new JobDocument { Run = "true", Requires = new JobRequirements { Queue = "metrics" } } } });
        submit.EnsureSuccessStatusCode();
        var before = await server.Client.GetStringAsync("/metrics");
        Assert.Equal(1, Value(before, "kiln_work_requests", "queue=\"metrics\",state=\"pending\""));

        using var claim = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(2, 0));
        var assignment = (await claim.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments.Single();
        var running = await server.Client.GetStringAsync("/metrics");
        Assert.Equal(1, Value(running, "kiln_work_requests", "queue=\"metrics\",state=\"running\""));
        Assert.Equal(0, Value(running, "kiln_work_requests", "queue=\"metrics\",state=\"pending\""));
        using var complete = await worker.PostAsJsonAsync($"/api/v1/work-requests/{assignment.WorkRequestId}/complete",
            new CompleteRequest(assignment.LeaseToken, "succeeded", 0, null));
        complete.EnsureSuccessStatusCode();

        // The attempt counters come from the attempts ledger, read at scrape time once an attempt has settled (2 s).
        var outcome = $"outcome=\"succeeded\",project=\"{project}\",queue=\"metrics\"";
        string after = "";
        var deadline = Stopwatch.StartNew();
        while (Value(after, "kiln_attempts_total", outcome) is not 1 && deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(250);
            after = await server.Client.GetStringAsync("/metrics");
        }
        Assert.Equal(1, Value(after, "kiln_attempts_total", outcome));
        Assert.Equal(1, Value(after, "kiln_attempt_run_seconds_count", $"project=\"{project}\",queue=\"metrics\""));
        Assert.Equal(1, Value(after, "kiln_queue_wait_seconds_count", $"project=\"{project}\",queue=\"metrics\""));
        Assert.Equal(0, Value(after, "kiln_work_requests", "queue=\"metrics\",state=\"running\""));
        Assert.True(Value(after, "kiln_reports_total", "result=\"succeeded\",status=\"ok\"") >= 1);
        Assert.True(Value(after, "kiln_claimed_work_requests_total") >= 1);
        Assert.True(Value(after, "kiln_claims_total", "result=\"work\"") >= 1);
        Assert.True(Value(after, "kiln_db_tuple_writes_total", "kind=\"insert\",table=\"attempts\"") >= 1);
        var names = Samples(after).Select(s => s.Name).ToHashSet();
        Assert.All(Documented, name => Assert.Contains(name, names));
        Assert.Equal(0, (await PromtoolCheckAsync(after)).ExitCode);
    }

    private static async Task<(int ExitCode, string Output)> PromtoolCheckAsync(string text)
    {
        var psi = new ProcessStartInfo("promtool", "check metrics")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("promtool is needed to check /metrics: apt-get install prometheus (.ci/run installs it)", e);
        }
        using (process)
        {
            await process.StandardInput.WriteAsync(text);
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, await stdout + await stderr);
        }
    }

    /// <summary>The sample's value, or null; <paramref name="labels"/> is the exact label set as prometheus-net writes it (sorted by name).</summary>
    private static double? Value(string text, string name, string labels = "") =>
        Samples(text).Where(s => s.Name == name && s.Labels == labels).Select(s => (double?)s.Value).FirstOrDefault();

    private static IEnumerable<(string Name, string Labels, double Value)> Samples(string text) =>
        text.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => SampleLine().Match(l)).Where(m => m.Success)
            .Select(m => (m.Groups[1].Value, SortLabels(m.Groups[2].Value), double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));

    private static string SortLabels(string labels) =>
        string.Join(',', labels.Split(',', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")]
    private static partial Regex SampleLine();
}
