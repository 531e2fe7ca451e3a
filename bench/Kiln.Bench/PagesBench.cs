using System.Diagnostics;
using System.Globalization;
using Kiln.Contracts;

namespace Kiln.Bench;

/// <summary>
/// The web interface's pages over the <c>lists</c> bench's farm (1,000,000 work requests): the
/// workflows list (first page with its capped count, filtered, a deep page) and a 10,000-job
/// workflow's page (40 stages of a 250-entry matrix, each stage needing the one before: 40
/// columns of one grouped box each), timed at the client from request to the last byte over
/// loopback — the server's time to render plus one local round trip. Anonymous, as a visitor of
/// public projects: one request at a time, round-robin over the pages after one unmeasured pass.
/// </summary>
public static class PagesBench
{
    public const int Stages = 40;
    public const int EntriesPerStage = 250;

    public static async Task RunAsync(KilnUnderTest kiln, ListsData data, BenchResult result, int rounds)
    {
        var big = await kiln.SubmitAsync(TenThousand());
        var anonymous = kiln.NewClient();
        anonymous.DefaultRequestHeaders.Authorization = null;
        anonymous.DefaultRequestHeaders.Accept.ParseAdd("text/html");
        var pages = new (string Name, string Url)[]
        {
            ("workflows", "/ui/workflows"),
            ("workflows_project_ci", "/ui/workflows?project=ci"),
            ("workflows_project_late", "/ui/workflows?project=late"),
            ("workflows_state_failed", "/ui/workflows?state=failed"),
            ("workflows_deep", $"/ui/workflows?after={(data.Workflows / 2).ToString(CultureInfo.InvariantCulture)}"),
            // the search beyond project and state: a trigger no workflow has (a walk of every workflow), a submitter, a day
            ("search_trigger_none", "/ui/workflows?trigger=push"),
            ("search_submitter", "/ui/workflows?submitter=admin"),
            ("search_since_today", $"/ui/workflows?since={DateTimeOffset.UtcNow:yyyy-MM-dd}"),
            ("workflow_10000_jobs", $"/ui/workflows/{big.Id}"),
            ("workflow_10_jobs", $"/ui/workflows/{ListsData.CiWorkflow}"),
            ("dashboard", "/ui/"),
        };
        var latencies = pages.Select(_ => new Latencies()).ToArray();
        var bytes = new long[pages.Length];
        for (var round = -1; round < rounds; round++)
        {
            for (var i = 0; i < pages.Length; i++)
            {
                var t = Stopwatch.GetTimestamp();
                using var response = await anonymous.GetAsync(pages[i].Url);
                var body = await response.Content.ReadAsByteArrayAsync();
                var elapsed = Stopwatch.GetElapsedTime(t);
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"GET {pages[i].Url}: {(int)response.StatusCode}");
                }
                if (round < 0)
                {
                    bytes[i] = body.Length;
                }
                else
                {
                    latencies[i].Add(elapsed);
                }
            }
        }
        Console.WriteLine($"\n[pages] web interface, {data.Total:N0} work requests stored (+ the 10,000-job workflow #{big.Id}); {rounds} requests per page");
        Console.WriteLine($"  {"page",-26} {"KiB",8} {"p50 ms",7} {"p99 ms",7}");
        for (var i = 0; i < pages.Length; i++)
        {
            var (name, _) = pages[i];
            result.Metric($"page:{name}:p50_ms", latencies[i].Percentile(50));
            result.Metric($"page:{name}:p99_ms", latencies[i].Percentile(99));
            result.Metric($"page:{name}:kib", bytes[i] / 1024.0);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-26} {bytes[i] / 1024.0,8:F1} {latencies[i].Percentile(50),7:F1} {latencies[i].Percentile(99),7:F1}"));
        }
        result.Notes.Add($"pages: the web interface, anonymous, {rounds} requests each, round-robin; the 10,000-job workflow is {Stages} stages of a {EntriesPerStage}-entry matrix");
    }

    /// <summary>40 stages of a 250-entry matrix, stage k needing stage k-1 entry by entry: 10,000 jobs, 9,750 edges.</summary>
    private static WorkflowDocument TenThousand()
    {
        var values = Enumerable.Range(1, EntriesPerStage).Select(n => n.ToString(CultureInfo.InvariantCulture)).ToList();
        return new WorkflowDocument
        {
            Name = "pages-10000",
            Project = "pages",
            Jobs = Enumerable.Range(0, Stages).ToDictionary(k => $"stage{k:D2}", k => new JobDocument
            {
                Run = "true",
                // a queue no bench worker serves: the jobs stay pending, as in a big rebuild in progress
                Requires = new JobRequirements { Queue = "pages-nothing" },
                Matrix = new MatrixDocument { ["n"] = values },
                Needs = k == 0 ? null : [$"stage{k - 1:D2}"],
            }),
        };
    }
}
