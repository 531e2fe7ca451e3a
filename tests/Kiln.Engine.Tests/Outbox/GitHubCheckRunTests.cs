using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Engine.Tests.Hooks;
using Kiln.Testing;

namespace Kiln.Engine.Tests.Outbox;

/// <summary>
/// GitHub check runs through an App installation (issue 14), the Packit case: an App registered with
/// its private key, a link with an installation id, a push that makes a 22-entry matrix. The fake
/// forge verifies the App's JWT, issues an installation token and keeps the check runs: one check run
/// for the commit, created once and updated, ending in success with the jobs in its summary.
/// </summary>
public sealed class GitHubCheckRunTests(WebhookServerFixture server) : IClassFixture<WebhookServerFixture>, IAsyncLifetime
{
    private const int Entries = 22;

    private FakeForge _forge = null!;

    public async Task InitializeAsync() => _forge = await FakeForge.StartAsync();

    public async Task DisposeAsync() => await _forge.DisposeAsync();

    [Fact]
    public async Task A_push_making_22_jobs_shows_as_one_check_run_written_at_most_four_times_ending_in_success()
    {
        var appId = "4242";
        using var key = RSA.Create(2048);
        using var publicKey = RSA.Create();
        publicKey.ImportFromPem(key.ExportRSAPublicKeyPem());
        _forge.RegisterApp(appId, publicKey);
        var api = _forge.ApiUrl("github");
        using (var set = await server.Client.PutAsJsonAsync("/api/v1/forge-apps", new SetForgeAppRequest(api, appId, key.ExportRSAPrivateKeyPem())))
        {
            Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync());
        }
        var listed = await server.Client.GetStringAsync("/api/v1/forge-apps");
        Assert.Contains(appId, listed, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", listed, StringComparison.Ordinal);

        var hooks = new HookFarm(server, _forge);
        var project = HookFarm.Unique("checks");
        using (var created = await server.Client.PostAsJsonAsync("/api/v1/projects", new { name = project }))
        {
            created.EnsureSuccessStatusCode();
        }
        const string secret = "the-secret-of-the-check-run-test";
        var repo = _forge.Repository("github", $"{HookFarm.Unique("owner")}/{HookFarm.Unique("repo")}");
        repo.AddHook(hooks.HookUrl("github"), secret);
        await hooks.LinkAsync(project, new LinkRepositoryRequest("github", repo.FullName, secret, api, InstallationId: "777"));

        var queue = HookFarm.Unique("checkq");
        var workflow = new WorkflowDocument
        {
            Name = "packit",
            Jobs = new()
            {
                ["build"] = new JobDocument
                {
                    Run = "true",
                    Matrix = new() { ["target"] = [.. Enumerable.Range(0, Entries).Select(i => $"fedora-{i}")] },
                    Requires = new JobRequirements { Queue = queue },
                },
            },
        };
        using (var rules = await server.Client.PutAsJsonAsync($"api/v1/projects/{project}/triggers/", new TriggerSetRequest
        {
            Text = "# rules\n",
            Rules = [new TriggerRuleDocument { Name = "main", Source = "forge", Types = [EventTypes.Push], Branches = ["main"], Workflow = "packit.yaml" }],
            Workflows = new() { ["packit.yaml"] = workflow },
        }, KilnClient.Json))
        {
            Assert.True(rules.IsSuccessStatusCode, await rules.Content.ReadAsStringAsync());
        }

        using var worker = await server.RegisterWorkerAsync(HookFarm.Unique("checkw"), queues: [queue], slots: 4);
        var sha = new string('c', 40);
        var started = Stopwatch.StartNew();
        await HookFarm.AcceptedAsync((await _forge.PushAsync(repo, "main", sha)).Single());
        // Acknowledged before any job runs: the check run is created queued (after the App's token is fetched).
        // Claiming before it exists would make in_progress its first state, rightly: the outbox sends the latest.
        await UntilAsync(() => _forge.CheckRuns.Any(r => r.HeadSha == sha));

        var done = 0;
        while (done < Entries)
        {
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(60), $"only {done} of {Entries} jobs ran");
            var claim = await PoolSetup.ClaimAsync(worker, 4);
            foreach (var job in claim.Assignments)
            {
                using var complete = await worker.PostAsJsonAsync($"/api/v1/work-requests/{job.WorkRequestId}/complete", new CompleteRequest(job.LeaseToken, "succeeded", 0, null));
                complete.EnsureSuccessStatusCode();
                done++;
            }
            if (claim.Assignments.Count == 0)
            {
                await Task.Delay(50);
            }
        }

        await UntilAsync(() => _forge.CheckRuns.Any(r => r.HeadSha == sha && r.Conclusion == "success"));
        var run = Assert.Single(_forge.CheckRuns, r => r.HeadSha == sha);
        Assert.Equal("kiln", run.Name);
        Assert.Equal("completed", run.Status);
        Assert.Equal("success", run.Conclusion);
        Assert.Matches("^kiln-target-[0-9]+$", run.ExternalId);
        Assert.Contains($"{Entries} succeeded", run.Summary, StringComparison.Ordinal);
        Assert.Contains("fedora-21", run.Summary, StringComparison.Ordinal);

        // Nothing more is written once settled.
        await Task.Delay(500);
        var writes = _forge.StatusWrites.Where(w => w.CheckRunId == run.Id).ToList();
        Console.WriteLine($"check run writes: {writes.Count}: {string.Join(", ", writes.Select(w => w.State))}");
        Assert.InRange(writes.Count, 1, 4);
        Assert.Equal("completed/success", writes[^1].State);
        Assert.Equal("queued", writes[0].State);
        // The create is the only POST; the updates use its id.
        Assert.Single(_forge.Requests, r => r.Method == "POST" && r.PathAndQuery.EndsWith($"/repos/{repo.FullName}/check-runs", StringComparison.Ordinal));
        Assert.All(_forge.Requests.Where(r => r.PathAndQuery.Contains("/check-runs", StringComparison.Ordinal)),
            r => Assert.StartsWith("Bearer ghs_", r.Headers["Authorization"], StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_private_key_that_does_not_load_is_refused_naming_privateKey()
    {
        using var response = await server.Client.PutAsJsonAsync("/api/v1/forge-apps",
            new SetForgeAppRequest(_forge.ApiUrl("github"), "12", "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var fields = problem.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("field").GetString()).ToList();
        Assert.Equal(["privateKey"], fields);
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), "timed out waiting");
            await Task.Delay(50);
        }
    }
}
