using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Net.Http.Json;
using Kiln.Contracts;
using Npgsql;

namespace Kiln.Bench;

/// <summary>
/// <c>events</c>: how fast Kiln takes events in and works through them. <b>Acceptance</b>: Koji
/// tag messages posted to <c>POST /api/v1/events/koji</c> by two clients, one after another each,
/// timed from request to 202 — first on an idle server, then with the server loaded by a
/// lifecycle run beside it (a bulk workflow of N no-op jobs drained by W workers over HTTP, as in
/// <c>lifecycle</c>). The goal: p99 ≤ 20 ms loaded. <b>Processing</b>: a backlog of B
/// events posted by 8 clients at once, and the time until none of them is still
/// <c>received</c> (the event processor duty applied the rules: here none match, the "no rule
/// matched" path). A build without the processor says so instead of a figure.
/// </summary>
public static class EventsBench
{
    private const string Topic = "org.fedoraproject.prod.buildsys.tag";

    public static async Task<BenchResult> RunAsync(BenchCluster cluster, BenchOptions o)
    {
        var result = new BenchResult("events");
        await using var kiln = await KilnUnderTest.StartAsync(cluster, "events");
        var posters = new[] { kiln.NewClient(), kiln.NewClient() };
        var serial = 0;

        // Warm-up: connections, prepared statements, JIT.
        await PostManyAsync(posters, 100, () => Interlocked.Increment(ref serial), null, CancellationToken.None);

        var idle = new Latencies();
        var idleCount = o.Quick ? 300 : 2000;
        await PostManyAsync(posters, idleCount, () => Interlocked.Increment(ref serial), idle, CancellationToken.None);
        idle.Report(result, "idle_accept");

        // Loaded: post continuously while a lifecycle bulk run drains beside it.
        var workers = new List<HttpClient>();
        for (var i = 0; i < o.Workers; i++)
        {
            workers.Add(await kiln.WorkerClientAsync($"w{i}", o.Protocol.Slots));
        }
        var loaded = new Latencies();
        // Long enough a load to give the loaded percentiles a few hundred samples even with --quick.
        var loadN = o.Quick ? Math.Max(o.N, 1000) : o.N;
        using var stop = new CancellationTokenSource();
        var start = Stopwatch.GetTimestamp();
        await kiln.SubmitAsync(KilnUnderTest.Independent(loadN, "events-load"));
        var posting = PostManyAsync(posters, int.MaxValue, () => Interlocked.Increment(ref serial), loaded, stop.Token);
        using (var fleet = await WorkerFleet.DrainHttpAsync(workers, loadN, o.Protocol))
        {
            var drain = Stopwatch.GetElapsedTime(start, fleet.FinishedAt).TotalSeconds;
            await stop.CancelAsync();
            await posting;
            result.Metric("load_work_requests", loadN);
            result.Metric("load_e2e_per_s", loadN / drain);
            fleet.Report(result, "load", loadN);
        }
        loaded.Report(result, "loaded_accept");
        result.Metric("loaded_accept_per_s", loaded.Count / Stopwatch.GetElapsedTime(start).TotalSeconds);

        // Processing: a backlog posted at once, then drained by the processor duty.
        var backlogCount = o.Quick ? 500 : 5000;
        await WaitForProcessingAsync(kiln, TimeSpan.FromSeconds(30)); // the earlier events first, if there is a processor
        var many = Enumerable.Range(0, 8).Select(_ => kiln.NewClient()).ToArray();
        var backlogStart = Stopwatch.GetTimestamp();
        var firstId = await MaxEventIdAsync(kiln);
        await PostManyAsync(many, backlogCount, () => Interlocked.Increment(ref serial), null, CancellationToken.None);
        var posted = Stopwatch.GetElapsedTime(backlogStart).TotalSeconds;
        result.Metric("backlog_events", backlogCount);
        result.Metric("backlog_accept_per_s", backlogCount / posted);
        var left = await WaitForProcessingAsync(kiln, TimeSpan.FromSeconds(o.Quick ? 30 : 120), firstId);
        if (left == backlogCount)
        {
            result.Notes.Add("no event processor in this build: every event stays 'received', so events processed per second is not measured");
        }
        else if (left > 0)
        {
            result.Notes.Add($"{left} of {backlogCount} backlog events were still 'received' when the bench stopped waiting");
        }
        else
        {
            result.Metric("backlog_processed_per_s", backlogCount / Stopwatch.GetElapsedTime(backlogStart).TotalSeconds);
        }
        if (left == 0)
        {
            await RulePathAsync(kiln, result, many, backlogCount, serial);
        }
        result.Notes.Add($"acceptance: Koji tag messages posted by 2 clients (sequential each), {idleCount} idle, then throughout a bulk run of {loadN} no-op jobs by {o.Workers} workers ({o.Protocol})");
        result.Notes.Add($"processing: {backlogCount} events posted by 8 clients at once; processed_per_s counts from the first post until none is 'received' (no trigger rules: the no-match path)");
        return result;
    }

    /// <summary>
    /// The rule path: a Koji rule of project bench-eln takes every message. A backlog of new NVRs
    /// becomes workflows (the first 50 runnable, the rest held by the storm guard: each a submission);
    /// the same NVRs re-tagged become nothing (each an input-key conflict). Both timed from the first
    /// post until none is 'received'.
    /// </summary>
    private static async Task RulePathAsync(KilnUnderTest kiln, BenchResult result, HttpClient[] clients, int count, int serial)
    {
        var admin = clients[0];
        using (var project = await admin.PutAsJsonAsync("/api/v1/projects/bench-eln", new ProjectSettings(null, null, null), KilnClient.Json))
        {
            project.EnsureSuccessStatusCode();
        }
        using (var set = await admin.PutAsJsonAsync("/api/v1/projects/bench-eln/triggers/", new TriggerSetRequest
        {
            Text = "rules: [eln-rebuild]\n",
            Rules = [new TriggerRuleDocument
            {
                Name = "eln-rebuild", Source = "koji", KojiTags = ["eln-build-trigger"], Packages = ["*"], Workflow = "rebuild.yaml",
                Params = new() { ["nvr"] = "${{ event.nvr }}" },
            }],
            Workflows = new()
            {
                ["rebuild.yaml"] = new WorkflowDocument
                {
                    Parameters = new() { ["nvr"] = new ParameterDocument { Default = "none" } },
                    // a queue no bench worker serves: the workflows are stored, never run
                    Jobs = new() { ["rebuild"] = new JobDocument { Run = "echo ${{ params.nvr }}", Requires = new JobRequirements { Queue = "bench-eln" } } },
                },
            },
        }, KilnClient.Json))
        {
            if (!set.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"setting the bench's trigger rule answered {(int)set.StatusCode}: {await set.Content.ReadAsStringAsync()}");
            }
        }
        foreach (var (name, first) in new[] { ("rule_new", serial + 1), ("rule_retag", serial + 1) })
        {
            var n = first - 1;
            var start = Stopwatch.GetTimestamp();
            var firstId = await MaxEventIdAsync(kiln);
            await PostManyAsync(clients, count, () => Interlocked.Increment(ref n), null, CancellationToken.None);
            var left = await WaitForProcessingAsync(kiln, TimeSpan.FromSeconds(180), firstId);
            if (left > 0)
            {
                result.Notes.Add($"{name}: {left} of {count} events were still 'received' when the bench stopped waiting");
                continue;
            }
            result.Metric($"{name}_processed_per_s", count / Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        result.Metric("rule_workflows", await ScalarAsync(kiln, "SELECT count(*) FROM workflows WHERE rule_id IS NOT NULL AND id > @after", 0));
        result.Metric("rule_held", await ScalarAsync(kiln, "SELECT count(*) FROM workflows WHERE rule_id IS NOT NULL AND state = 'held' AND id > @after", 0));
        result.Notes.Add($"rule path: {count} new NVRs through a Koji rule (rule_new: created, beyond the burst held), then the same {count} re-tagged (rule_retag: inputs unchanged, nothing created)");
    }

    private static async Task PostManyAsync(HttpClient[] clients, int count, Func<int> next, Latencies? latencies, CancellationToken stop)
    {
        var posted = 0;
        await Task.WhenAll(clients.Select(client => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && Interlocked.Increment(ref posted) <= count)
            {
                var n = next();
                using var content = new StringContent(Message(n), Encoding.UTF8, "application/json");
                var t = Stopwatch.GetTimestamp();
                using var response = await client.PostAsync("/api/v1/events/koji", content, CancellationToken.None);
                var elapsed = Stopwatch.GetElapsedTime(t);
                if ((int)response.StatusCode != 202)
                {
                    throw new InvalidOperationException($"POST /api/v1/events/koji answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(CancellationToken.None)}");
                }
                latencies?.Add(elapsed);
            }
        }, CancellationToken.None)));
    }

    /// <summary>A fedora-messaging tag message for a new NVR each time (every one a new input).</summary>
    private static string Message(int n) => JsonSerializer.Serialize(new
    {
        id = Guid.NewGuid().ToString(),
        topic = Topic,
        body = new { build_id = 3_000_000 + n, name = $"bench-pkg-{n % 5000}", version = "1.0", release = $"{n}.eln143", tag = "eln-build-trigger", tag_id = 4242, user = "bench", owner = "bench", instance = "primary" },
    });

    /// <summary>Waits until no event after <paramref name="afterId"/> is 'received' (or the bound); returns how many still are.</summary>
    private static async Task<long> WaitForProcessingAsync(KilnUnderTest kiln, TimeSpan bound, long afterId = 0)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(bound.TotalSeconds * Stopwatch.Frequency);
        long left;
        long? previous = null;
        var unchangedSince = Stopwatch.GetTimestamp();
        while (true)
        {
            left = await ScalarAsync(kiln, "SELECT count(*) FROM events WHERE state = 'received' AND id > @after", afterId);
            if (left == 0 || Stopwatch.GetTimestamp() > deadline)
            {
                return left;
            }
            if (left != previous)
            {
                previous = left;
                unchangedSince = Stopwatch.GetTimestamp();
            }
            else if (Stopwatch.GetElapsedTime(unchangedSince) > TimeSpan.FromSeconds(10))
            {
                return left; // nothing moves: no processor (or it is stuck)
            }
            await Task.Delay(20);
        }
    }

    private static Task<long> MaxEventIdAsync(KilnUnderTest kiln) => ScalarAsync(kiln, "SELECT coalesce(max(id), 0) FROM events WHERE id > @after", 0);

    private static async Task<long> ScalarAsync(KilnUnderTest kiln, string sql, long after)
    {
        await using var conn = new NpgsqlConnection(kiln.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        cmd.Parameters.AddWithValue("after", after);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
