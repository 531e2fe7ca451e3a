using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Engine.Tests.Hooks;
using Kiln.Testing;
using Microsoft.AspNetCore.Http;

namespace Kiln.Engine.Tests.Outbox;

/// <summary>
/// The Packit post-mortem's case (seeds/004): one commit, 22 targets, each going queued → running →
/// success. Setting 22 statuses one by one, inline, was the slowest part of every short task. Here,
/// with summary reporting the forge gets one status updated in place (at most 4 writes for the
/// workflow); with one status per target no state is written twice, and when the forge is slower
/// than the farm the states superseded before the sender got to them are never sent. The forge
/// answers status writes itself (through <see cref="FakeForge.Intercept"/>) after a delay.
/// </summary>
public sealed class PackitCaseTests(WebhookServerFixture server, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<WebhookServerFixture>, IAsyncLifetime
{
    private const int Targets = 22;

    private readonly List<(string Context, string State, DateTimeOffset At)> _writes = [];
    private FakeForge _forge = null!;
    private HookFarm _hooks = null!;
    private TimeSpan _latency;

    public async Task InitializeAsync()
    {
        _forge = await FakeForge.StartAsync();
        _hooks = new HookFarm(server, _forge);
        _forge.Intercept = async http =>
        {
            if (!HttpMethods.IsPost(http.Request.Method) || !http.Request.Path.Value!.Contains("/statuses/", StringComparison.Ordinal))
            {
                return false;
            }
            using var body = await JsonDocument.ParseAsync(http.Request.Body);
            await Task.Delay(_latency);
            lock (_writes)
            {
                _writes.Add((body.RootElement.GetProperty("name").GetString()!, body.RootElement.GetProperty("state").GetString()!, DateTimeOffset.UtcNow));
            }
            http.Response.StatusCode = 201;
            await http.Response.WriteAsync("{}");
            return true;
        };
    }

    public async Task DisposeAsync() => await _forge.DisposeAsync();

    [Fact]
    public async Task With_summary_reporting_22_targets_make_at_most_4_writes_and_the_first_is_sent_before_anything_runs()
    {
        var (_, worker) = await LinkedPushAsync("summary");
        await UntilAsync(() => Writes().Count >= 1);
        // The first status went out before any job was claimed: the push was seen to be taken.
        Assert.Equal(("kiln", "pending"), (Writes()[0].Context, Writes()[0].State));

        await RunAllAsync(worker);
        await UntilAsync(() => Writes().Any(w => w.State == "success"));
        await Task.Delay(1500);

        var writes = Writes();
        output.WriteLine($"summary: {writes.Count} writes: {string.Join(", ", writes.Select(w => w.State))}");
        Assert.InRange(writes.Count, 2, 4);
        Assert.All(writes, w => Assert.Equal("kiln", w.Context));
        Assert.Equal("success", writes[^1].State);
        // One status updated in place: each phase (pending, running, success) at most once.
        Assert.Equal(writes.Count, writes.Select(w => w.State).Distinct().Count());
    }

    [Fact]
    public async Task With_one_status_per_target_no_state_is_sent_twice_and_a_slow_forge_gets_only_the_latest()
    {
        _latency = TimeSpan.FromMilliseconds(100);
        var (_, worker) = await LinkedPushAsync("jobs");
        await RunAllAsync(worker);
        await UntilAsync(() => Writes().Count(w => w.State == "success") == Targets);
        await Task.Delay(1500);

        var writes = Writes();
        output.WriteLine($"jobs: {writes.Count} writes for {Targets} targets ({writes.Count(w => w.State == "pending")} pending, {writes.Count(w => w.State == "running")} running, {writes.Count(w => w.State == "success")} success)");
        Assert.Equal(Targets, writes.Select(w => w.Context).Distinct().Count());
        // No (context, state) twice, and every context ends on success.
        Assert.Equal(writes.Count, writes.Select(w => (w.Context, w.State)).Distinct().Count());
        Assert.All(writes.GroupBy(w => w.Context), g => Assert.Equal("success", g.Last().State));
        // The farm finished every job faster than the forge took 66 writes: states superseded before
        // their turn (queued or running of a job already done) were skipped, never sent late.
        Assert.True(writes.Count < 3 * Targets, $"{writes.Count} writes for {Targets} targets");
    }

    private List<(string Context, string State, DateTimeOffset At)> Writes()
    {
        lock (_writes)
        {
            return [.. _writes];
        }
    }

    /// <summary>A GitLab link with a token reporting <paramref name="mode"/>, a rule making a 22-entry matrix on push to main, and the push.</summary>
    private async Task<(string Queue, HttpClient Worker)> LinkedPushAsync(string mode)
    {
        var (project, repo, link, _) = await _hooks.LinkedAsync("gitlab", api: true);
        using (var report = await server.Client.PostAsJsonAsync($"/api/v1/projects/{project}/links", new LinkRepositoryRequest(
            "gitlab", repo.FullName, "a-webhook-secret-of-the-test", _forge.ApiUrl("gitlab"), _forge.ApiToken, Report: mode)))
        {
            Assert.True(report.IsSuccessStatusCode, await report.Content.ReadAsStringAsync());
        }
        var queue = HookFarm.Unique("packitq");
        var workflow = new WorkflowDocument
        {
            Name = "copr-build",
            Jobs = new()
            {
                ["build"] = new JobDocument
                {
                    Run = "true", Requires = new() { Queue = queue },
                    Matrix = new() { ["chroot"] = [.. Enumerable.Range(1, Targets).Select(i => $"fedora-{i}")] },
                },
            },
        };
        using (var rules = await server.Client.PutAsJsonAsync($"api/v1/projects/{project}/triggers/", new TriggerSetRequest
        {
            Text = "# packit\n",
            Rules = [new TriggerRuleDocument { Name = "main", Source = "forge", Types = [EventTypes.Push], Branches = ["main"], Workflow = "build.yaml" }],
            Workflows = new() { ["build.yaml"] = workflow },
        }, KilnClient.Json))
        {
            Assert.True(rules.IsSuccessStatusCode, await rules.Content.ReadAsStringAsync());
        }
        var worker = await server.RegisterWorkerAsync(HookFarm.Unique("packitw"), queues: [queue], slots: Targets);
        await HookFarm.AcceptedAsync((await _forge.PushAsync(repo, "main", new string('7', 40))).Single());
        return (queue, worker);
    }

    /// <summary>Claims every job (queued → running), then completes each (running → success), as fast as the farm goes.</summary>
    private static async Task RunAllAsync(HttpClient worker)
    {
        var jobs = new List<Assignment>();
        var watch = Stopwatch.StartNew();
        while (jobs.Count < Targets)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"only {jobs.Count} of {Targets} jobs became claimable");
            jobs.AddRange((await PoolSetup.ClaimAsync(worker, Targets)).Assignments);
        }
        foreach (var job in jobs)
        {
            using var done = await worker.PostAsJsonAsync($"/api/v1/work-requests/{job.WorkRequestId}/complete", new CompleteRequest(job.LeaseToken, "succeeded", 0, null));
            done.EnsureSuccessStatusCode();
        }
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), "the forge was not told");
            await Task.Delay(50);
        }
    }
}
