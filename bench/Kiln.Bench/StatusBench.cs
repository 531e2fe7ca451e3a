using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Server.Api;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Bench;

/// <summary>
/// <c>status</c>: does a slow, then rate-limiting forge slow the farm down? Two runs in the same
/// process, each on a fresh database, identical but for the repository link's <c>report</c>:
/// <c>off</c> (nothing goes to the forge) and <c>summary</c> (one commit status per workflow).
/// In each, a lifecycle load (bulk workflows of no-op jobs drained by W workers over HTTP) runs
/// for the whole window while a forge client posts push webhooks to Kiln — to <c>main</c> every
/// 3 s, each becoming a workflow of 22 jobs that a separate worker completes (the Packit case),
/// and to topic branches in between (accepted, no rule matches). The fake forge (a real HTTP
/// server on loopback, <c>tests/Kiln.Testing/FakeForge*.cs</c>) answers every status write after
/// 2 s; from <c>slow</c> seconds into the window it answers 403 with <c>retry-after</c> (a
/// secondary limit) for <c>limited</c> seconds. Measured: claim, completion and webhook
/// acceptance latency in both runs (the ratios summary/off), the forge's attempts while the
/// limit held after its first 403 (must be 0), and how long after the forge recovered every
/// status target was acknowledged in its final state.
/// </summary>
public static class StatusBench
{
    private const string PushQueue = "status-bench";
    private const int JobsPerPush = 22;
    private static readonly TimeSpan WriteLatency = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan PushEvery = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan TopicEvery = TimeSpan.FromMilliseconds(100);

    private sealed record Window(TimeSpan Slow, TimeSpan Limited, TimeSpan After)
    {
        public TimeSpan Total => Slow + Limited + After;
    }

    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o)
    {
        var result = new BenchResult("status");
        var window = o.Quick
            ? new Window(TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(5))
            : new Window(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(10));
        var batch = o.Quick ? 500 : 2000;
        var off = await RunOnceAsync(cluster, o, "off", window, batch, result);
        var summary = await RunOnceAsync(cluster, o, "summary", window, batch, result);
        foreach (var (name, p) in new[] { ("claim", 50), ("claim", 99), ("complete", 50), ("complete", 99), ("accept", 50), ("accept", 99) })
        {
            result.Ratio($"{name}_p{p}_summary_over_off", summary[name].Percentile(p) / off[name].Percentile(p));
        }
        result.Notes.Add($"window: forge at {WriteLatency.TotalSeconds:F0} s per write for {window.Slow.TotalSeconds:F0} s, then 403 secondary limit (retry-after) for {window.Limited.TotalSeconds:F0} s, then {window.After.TotalSeconds:F0} s recovered; the load runs the whole window");
        result.Notes.Add($"load: bulk workflows of {batch} no-op jobs drained by {o.Workers} workers ({o.Protocol}); pushes to main every {PushEvery.TotalSeconds:F0} s ({JobsPerPush} jobs each, completed by one more worker) and to topic branches every {TopicEvery.TotalMilliseconds:F0} ms, by one forge client");
        result.Notes.Add("the off run comes first, then the summary run, each on a fresh database; server defaults (--status-spacing 1 s, --status-timeout 10 s)");
        return result;
    }

    /// <summary>One run: returns its claim, completion and acceptance latencies by name.</summary>
    private static async Task<Dictionary<string, Latencies>> RunOnceAsync(BenchCluster cluster, BenchOptions o, string report, Window window, int batch, BenchResult result)
    {
        var prefix = report + "_";
        await using var kiln = await KilnUnderTest.StartAsync(cluster, $"status_{report}");
        await using var forge = await FakeForge.StartAsync();
        forge.StatusFaults.Latency = WriteLatency;
        var repo = await LinkAsync(kiln, forge, report);

        var workers = new List<HttpClient>();
        for (var i = 0; i < o.Workers; i++)
        {
            workers.Add(await kiln.WorkerClientAsync($"w{i}", o.Protocol.Slots));
        }
        var pushWorker = await PushWorkerAsync(kiln);
        var claims = new Latencies();
        var completions = new Latencies();
        var accept = new Latencies();
        var drained = 0;

        // Warm-up, not measured: connections, prepared statements, JIT, the hook path.
        await kiln.SubmitAsync(KilnUnderTest.Independent(200, "status-warm-up"));
        using (await WorkerFleet.DrainHttpAsync(workers, 200, o.Protocol))
        {
        }
        for (var i = 0; i < 20; i++)
        {
            await forge.PushAsync(repo, $"warm-up/{i}", new string('f', 40));
        }

        var mainPushedAt = new Dictionary<string, DateTimeOffset>();
        using var stop = new CancellationTokenSource();
        using var finish = new CancellationTokenSource();
        var start = Stopwatch.GetTimestamp();
        var load = Task.Run(async () =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                await kiln.SubmitAsync(KilnUnderTest.Independent(batch, $"status-load-{n++}"));
                using var fleet = await WorkerFleet.DrainHttpAsync(workers, batch, o.Protocol);
                claims.AddAll(fleet.Claims);
                completions.AddAll(fleet.Completions);
                drained += batch;
            }
        });
        var pushes = Task.Run(() => PushAsync(forge, repo, accept, mainPushedAt, stop.Token));
        var completing = Task.Run(() => CompletePushJobsAsync(pushWorker, finish.Token));

        await Task.Delay(window.Slow);
        var limitedFrom = DateTimeOffset.UtcNow;
        var limitedUntil = DateTimeOffset.UtcNow + window.Limited;
        forge.StatusFaults.SecondaryLimitUntil = limitedUntil;
        await Task.Delay(window.Limited + window.After);
        await stop.CancelAsync();
        var (mainPushes, _) = await pushes;
        await load;
        var loadSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;

        result.Metric(prefix + "load_work_requests", drained);
        result.Metric(prefix + "load_e2e_per_s", drained / loadSeconds);
        claims.Report(result, prefix + "claim");
        completions.Report(result, prefix + "complete");
        accept.Report(result, prefix + "accept");
        result.Metric(prefix + "workflows_from_pushes", mainPushes);

        // Every push workflow finished, then every target acknowledged in its final state.
        var bound = TimeSpan.FromSeconds(o.Quick ? 180 : 600);
        var unfinished = await WaitAsync(kiln, "SELECT count(*) FROM workflows WHERE state NOT IN ('succeeded', 'failed', 'cancelled') AND name = 'rebuild'", bound);
        await finish.CancelAsync();
        await completing;
        if (unfinished > 0)
        {
            result.Notes.Add($"{report}: {unfinished} push workflow(s) had not finished when the bench stopped waiting");
        }
        if (report == "off")
        {
            result.Metric(prefix + "forge_attempts", forge.StatusFaults.Attempts.Count);
            result.Metric(prefix + "status_tables_rows", await ScalarAsync(kiln, "SELECT (SELECT count(*) FROM status_targets) + (SELECT count(*) FROM status_deliveries) + (SELECT count(*) FROM status_channels)"));
            return new() { ["claim"] = claims, ["complete"] = completions, ["accept"] = accept };
        }

        var open = await WaitAsync(kiln, "SELECT count(*) FROM status_targets WHERE NOT done", bound);
        var converged = DateTimeOffset.UtcNow;
        var attempts = forge.StatusFaults.Attempts;
        var firstLimited = attempts.FirstOrDefault(a => a.Code == 403);
        result.Metric(prefix + "targets", await ScalarAsync(kiln, "SELECT count(*) FROM status_targets"));
        result.Metric(prefix + "targets_open_at_end", open);
        result.Metric(prefix + "targets_final_success", await ScalarAsync(kiln, "SELECT count(*) FROM status_targets WHERE done AND acknowledged = 'succeeded'"));
        result.Metric(prefix + "forge_attempts", attempts.Count);
        result.Metric(prefix + "forge_writes_accepted", forge.StatusWrites.Count);
        result.Metric(prefix + "forge_403_answers", attempts.Count(a => a.Code == 403));
        result.Metric(prefix + "forge_attempts_while_paused", firstLimited is null ? double.NaN
            : attempts.Count(a => a.At > firstLimited.At && a.At < limitedUntil));
        result.Metric(prefix + "writes_per_workflow", forge.StatusWrites.Count / (double)Math.Max(1, mainPushes));
        var lastBySha = forge.StatusWrites.GroupBy(w => w.Sha).Select(g => g.Last().State).ToList();
        result.Metric(prefix + "commits_last_written_success", lastBySha.Count(s => s == "success"));
        // Acknowledged fast: from a push to main to the forge's first status of that commit, for the
        // commits pushed while the forge was only slow (with time for that write before the limit).
        var firstStatus = new Latencies();
        foreach (var (sha, pushed) in mainPushedAt)
        {
            if (pushed < limitedFrom - WriteLatency - TimeSpan.FromSeconds(2) && forge.StatusWrites.FirstOrDefault(w => w.Sha == sha) is { } first)
            {
                firstStatus.Add(first.At - pushed);
            }
        }
        firstStatus.Report(result, prefix + "first_status");
        if (open == 0)
        {
            result.Metric(prefix + "converged_s_after_recovery", (converged - limitedUntil).TotalSeconds);
        }
        else
        {
            result.Notes.Add($"summary: {open} target(s) were still open when the bench stopped waiting");
        }
        return new() { ["claim"] = claims, ["complete"] = completions, ["accept"] = accept };
    }

    /// <summary>A project, a GitLab repository on the fake forge with a hook to Kiln, a link with the forge's API and token, and a rule: a push to main makes a 22-job workflow.</summary>
    private static async Task<FakeRepository> LinkAsync(KilnUnderTest kiln, FakeForge forge, string report)
    {
        const string project = "bench-status";
        const string secret = "bench-status-hook-secret";
        using (var created = await kiln.Client.PostAsJsonAsync("/api/v1/projects", new { name = project }))
        {
            await EnsureAsync(created, "creating the project");
        }
        var repo = forge.Repository("gitlab", "bench/status");
        repo.AddHook($"{kiln.Host.Url.TrimEnd('/')}/api/v1/hooks/gitlab", secret, false);
        using (var linked = await kiln.Client.PostAsJsonAsync($"/api/v1/projects/{project}/links",
            new LinkRepositoryRequest("gitlab", repo.FullName, secret, forge.ApiUrl("gitlab"), forge.ApiToken, Report: report), KilnClient.Json))
        {
            await EnsureAsync(linked, "linking the repository");
        }
        using var set = await kiln.Client.PutAsJsonAsync($"/api/v1/projects/{project}/triggers/", new TriggerSetRequest
        {
            Text = "rules: [main]\n",
            Rules = [new TriggerRuleDocument
            {
                Name = "main", Source = "forge", Types = [EventTypes.Push], Branches = ["main"], Workflow = "rebuild.yaml",
                Params = new() { ["sha"] = "${{ event.sha }}" },
            }],
            Workflows = new()
            {
                ["rebuild.yaml"] = new WorkflowDocument
                {
                    Name = "rebuild",
                    Parameters = new() { ["sha"] = new ParameterDocument { Default = "none" } },
                    Jobs = Enumerable.Range(0, JobsPerPush).ToDictionary(i => $"build-{i}",
                        _ => new JobDocument { Run = "echo ${{ params.sha }}", Requires = new JobRequirements { Queue = PushQueue } }),
                },
            },
        }, KilnClient.Json);
        await EnsureAsync(set, "setting the trigger rule");
        return repo;
    }

    /// <summary>Pushes to main every 3 s and to a topic branch every 100 ms until stopped; each delivery's answer timed, each main push's time kept by commit. Returns (main pushes, all pushes).</summary>
    private static async Task<(int Main, int All)> PushAsync(
        FakeForge forge, FakeRepository repo, Latencies accept, Dictionary<string, DateTimeOffset> mainPushedAt, CancellationToken stop)
    {
        var n = 0;
        var main = 0;
        var nextMain = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            var toMain = Stopwatch.GetTimestamp() >= nextMain;
            var sha = Convert.ToHexStringLower(BitConverter.GetBytes((long)n)).PadLeft(40, 'c');
            var t = Stopwatch.GetTimestamp();
            if (toMain)
            {
                mainPushedAt[sha] = DateTimeOffset.UtcNow;
            }
            var sent = await forge.PushAsync(repo, toMain ? "main" : $"topic/{n}", sha);
            accept.Add(Stopwatch.GetElapsedTime(t));
            if (sent.Single() is { Succeeded: false } refused)
            {
                throw new InvalidOperationException($"Kiln answered the push webhook {refused.StatusCode}: {refused.ResponseBody}");
            }
            n++;
            if (toMain)
            {
                main++;
                nextMain += (long)(PushEvery.TotalSeconds * Stopwatch.Frequency);
            }
            try
            {
                await Task.Delay(TopicEvery, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return (main, n);
    }

    private static async Task<HttpClient> PushWorkerAsync(KilnUnderTest kiln)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workers/register")
        {
            Content = JsonContent.Create(new RegisterWorkerRequest("push-worker", ["amd64"], [], [PushQueue], 4), options: ApiJson.Options),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", KilnUnderTest.RegistrationToken);
        using var response = await kiln.Client.SendAsync(request);
        await EnsureAsync(response, "registering the push worker");
        var secret = (await response.Content.ReadFromJsonAsync<RegisterWorkerResponse>(ApiJson.Options))!.Secret;
        var client = kiln.NewClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        return client;
    }

    /// <summary>The push workflows' jobs, claimed and completed as a worker running them would, until stopped.</summary>
    private static async Task CompletePushJobsAsync(HttpClient worker, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                using var claimed = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(JobsPerPush, 1), ApiJson.Options, stop);
                await EnsureAsync(claimed, "claiming a push job");
                var claim = (await claimed.Content.ReadFromJsonAsync<ClaimResponse>(ApiJson.Options, stop))!;
                if (claim.Assignments.Count == 0)
                {
                    continue;
                }
                var reports = new ReportBatchRequest([.. claim.Assignments.Select(a => new WorkerReport(a.WorkRequestId, a.LeaseToken, "succeeded", 0, null))]);
                using var reported = await worker.PostAsJsonAsync("/api/v1/work-requests/reports", reports, ApiJson.Options, stop);
                await EnsureAsync(reported, "reporting push jobs");
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Waits until <paramref name="countSql"/> is 0 (or the bound); returns its last value.</summary>
    private static async Task<long> WaitAsync(KilnUnderTest kiln, string countSql, TimeSpan bound)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var left = await ScalarAsync(kiln, countSql);
            if (left == 0 || watch.Elapsed > bound)
            {
                return left;
            }
            await Task.Delay(100);
        }
    }

    private static async Task<long> ScalarAsync(KilnUnderTest kiln, string sql)
    {
        await using var conn = new NpgsqlConnection(kiln.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static async Task EnsureAsync(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{what} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }
}
