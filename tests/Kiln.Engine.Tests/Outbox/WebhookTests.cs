using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Engine.Tests.Hooks;
using Kiln.Core;
using Kiln.Server.Hosting;
using Kiln.Store.Engine;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests.Outbox;

/// <summary>A server whose outbox sends without spacing and retries after about a second.</summary>
public sealed class WebhookServerFixture : ServerFixture
{
    public override KilnServerOptions Options(string connectionString) => base.Options(connectionString) with
    {
        StatusSpacing = TimeSpan.Zero,
        StatusRetryBase = TimeSpan.FromSeconds(1),
    };
}

/// <summary>
/// Outgoing webhooks end to end: a real receiver on 127.0.0.1 verifies every signature with the
/// secret Kiln showed once, by its own Standard Webhooks code; workflow and job changes arrive in
/// order with the final state last and no state twice; failures are retried and listed; a
/// redelivery reuses the webhook-id and body; 410 Gone disables the subscription.
/// </summary>
public sealed class WebhookTests(WebhookServerFixture server) : IClassFixture<WebhookServerFixture>, IAsyncLifetime
{
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task Workflow_and_job_changes_arrive_signed_in_order_with_the_final_state_last_and_none_twice()
    {
        var project = await ProjectAsync();
        var hook = await SubscribeAsync(project, ["workflow", "job"]);
        var queue = HookFarm.Unique("hookq");
        using var worker = await server.RegisterWorkerAsync(HookFarm.Unique("hookw"), queues: [queue]);

        var workflowId = await SubmitAsync(project, queue);
        await UntilAsync(() => Phases("workflow.updated").Contains("waiting"));
        var assignment = await PoolSetup.ClaimAsync(worker);
        var job = Assert.Single(assignment.Assignments);
        await UntilAsync(() => Phases("workflow.updated").Contains("running"));
        using (var done = await worker.PostAsJsonAsync($"/api/v1/work-requests/{job.WorkRequestId}/complete", new CompleteRequest(job.LeaseToken, "succeeded", 0, null)))
        {
            done.EnsureSuccessStatusCode();
        }
        await UntilAsync(() => Phases("workflow.updated").Contains("succeeded") && JobStates().Contains("succeeded#1"));

        Assert.All(_receiver.Received, r => Assert.True(r.Verified, $"signature of {r.Id} did not verify"));
        Assert.All(_receiver.Received, r => Assert.Equal("Kiln", r.UserAgent));
        Assert.All(_receiver.Received, r => Assert.StartsWith("application/json", r.ContentType, StringComparison.Ordinal));
        Assert.Equal(["waiting", "running", "succeeded"], Phases("workflow.updated"));
        var jobs = JobStates();
        Assert.Equal(jobs.Distinct().Count(), jobs.Count);
        Assert.Equal("succeeded#1", jobs[^1]);
        Assert.Contains("running#1", jobs);
        // Each state its own webhook-id; the workflow's data names it.
        Assert.Equal(_receiver.Received.Count, _receiver.Received.Select(r => r.Id).Distinct().Count());
        var last = Parse(_receiver.Received.Last(r => Type(r) == "workflow.updated"));
        Assert.Equal(workflowId, last.GetProperty("data").GetProperty("id").GetInt64());
        Assert.Equal(project, last.GetProperty("data").GetProperty("project").GetString());
        Assert.True(DateTimeOffset.TryParse(last.GetProperty("timestamp").GetString(), out _));

        // Nothing more is sent for settled states.
        var count = _receiver.Received.Count;
        await Task.Delay(1500);
        Assert.Equal(count, _receiver.Received.Count);
        Assert.Equal(count, (await DeliveriesAsync(hook.Webhook.Id)).Items.Count);
    }

    [Fact]
    public async Task Answers_of_500_are_retried_listed_and_a_redelivery_sends_the_same_id_and_body()
    {
        var project = await ProjectAsync();
        var hook = await SubscribeAsync(project, ["workflow"]);
        _receiver.Answers(500, 500);

        await SubmitAsync(project, HookFarm.Unique("idleq"));
        await UntilAsync(() => _receiver.Received.Any(r => r.Answered == 200));

        var received = _receiver.Received;
        Assert.Equal([500, 500, 200], received.Select(r => r.Answered).ToList());
        Assert.All(received, r => Assert.True(r.Verified));
        Assert.Single(received.Select(r => r.Id).Distinct());
        var deliveries = (await DeliveriesAsync(hook.Webhook.Id)).Items;
        Assert.Equal([200, 500, 500], deliveries.Select(d => d.StatusCode ?? 0).ToList());
        Assert.NotNull(deliveries[0].Answer);
        Assert.Contains("500", deliveries[1].Error, StringComparison.Ordinal);
        Assert.All(deliveries, d => Assert.Equal(received[0].Id, d.MessageId));
        Assert.All(deliveries, d => Assert.Equal("workflow.updated", d.EventType));

        using (var again = await server.Client.PostAsync($"/api/v1/webhook-deliveries/{deliveries[0].Id}/redeliver", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        }
        await UntilAsync(() => _receiver.Received.Count == 4);
        var redelivered = _receiver.Received[3];
        Assert.Equal(received[2].Id, redelivered.Id);
        Assert.Equal(received[2].Body, redelivered.Body);
        Assert.True(redelivered.Verified);
        await UntilAsync(async () => (await DeliveriesAsync(hook.Webhook.Id)).Items[0].RedeliveryOf == deliveries[0].Id);
    }

    [Fact]
    public async Task A_410_disables_the_subscription()
    {
        var project = await ProjectAsync();
        var hook = await SubscribeAsync(project, ["workflow"]);
        _receiver.Answers(410);

        await SubmitAsync(project, HookFarm.Unique("idleq"));
        await UntilAsync(async () => !(await server.Client.GetFromJsonAsync<WebhookView>($"/api/v1/webhooks/{hook.Webhook.Id}", KilnClient.Json))!.Enabled);
        await SubmitAsync(project, HookFarm.Unique("idleq"));
        await Task.Delay(1000);
        Assert.Single(_receiver.Received);
    }

    [Fact]
    public async Task A_processed_event_of_a_linked_repository_is_delivered_as_event_processed()
    {
        await using var forge = await FakeForge.StartAsync();
        var farm = new HookFarm(server, forge);
        var (project, repo, _, _) = await farm.LinkedAsync("github");
        await SubscribeAsync(project, ["event"]);

        var accepted = await HookFarm.AcceptedAsync((await forge.PushAsync(repo, "main", new string('4', 40))).Single());

        await UntilAsync(() => _receiver.Received.Any(r => Type(r) == "event.processed"));
        var sent = _receiver.Received.Single(r => Type(r) == "event.processed");
        Assert.True(sent.Verified);
        var data = Parse(sent).GetProperty("data");
        Assert.Equal(accepted.EventId, data.GetProperty("id").GetInt64());
        Assert.Equal("github", data.GetProperty("source").GetString());
        Assert.Equal("processed", data.GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_workflow_held_by_the_storm_guard_is_sent_as_workflow_held()
    {
        var project = await ProjectAsync();
        await SubscribeAsync(project, ["workflow"]);
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        var (plan, _) = new WorkflowPlanner().Plan(new WorkflowDocument
        {
            Project = project,
            Jobs = new() { ["build"] = new() { Run = "true", Requires = new() { Queue = HookFarm.Unique("idleq") } } },
        });
        // As the storm guard stores it (the trigger processor's submission with a held origin).
        var id = (await new SubmissionStore(db, TimeProvider.System).SubmitAsync(plan!, "{}", CancellationToken.None, origin: new WorkflowOrigin(Hold: WorkflowState.Held))).WorkflowId;

        await UntilAsync(() => _receiver.Received.Count > 0);
        var sent = Parse(Assert.Single(_receiver.Received));
        Assert.Equal("workflow.held", sent.GetProperty("type").GetString());
        Assert.Equal(id, sent.GetProperty("data").GetProperty("id").GetInt64());
        Assert.Equal("held", sent.GetProperty("data").GetProperty("phase").GetString());
    }

    private List<string> Phases(string type) =>
        [.. _receiver.Received.Where(r => Type(r) == type).Select(r => Parse(r).GetProperty("data").GetProperty("phase").GetString()!)];

    private List<string> JobStates() =>
        [.. _receiver.Received.Where(r => Type(r) == "job.updated").Select(r =>
        {
            var d = Parse(r).GetProperty("data");
            return $"{d.GetProperty("state").GetString()}#{d.GetProperty("attempt").GetInt32()}";
        })];

    private static string? Type(ReceivedWebhook r) => Parse(r).GetProperty("type").GetString();

    private static JsonElement Parse(ReceivedWebhook r) => JsonDocument.Parse(r.Body).RootElement.Clone();

    [Fact]
    public async Task Status_reports_show_each_target_desired_against_acknowledged_and_the_last_answer()
    {
        var project = await ProjectAsync();
        var hook = await SubscribeAsync(project, ["workflow", "job"]);
        _receiver.Answers(503);
        var workflowId = await SubmitAsync(project, HookFarm.Unique("idleq"));
        await UntilAsync(() => _receiver.Received.Count(r => Type(r) == "workflow.updated") >= 2 && _receiver.Received.Any(r => Type(r) == "job.updated"));

        StatusReportsView view = null!;
        await UntilAsync(async () =>
        {
            view = (await server.Client.GetFromJsonAsync<StatusReportsView>($"/api/v1/workflows/{workflowId}/status-reports", KilnClient.Json))!;
            return view.Targets.Count == 2 && view.Targets.All(t => t.Acknowledged is not null);
        });
        Assert.Equal(workflowId, view.WorkflowId);
        Assert.Equal(["hook-workflow", "hook-job"], view.Targets.Select(t => t.Kind).ToList());
        var workflowTarget = view.Targets[0];
        Assert.Equal($"hook:{hook.Webhook.Id}", workflowTarget.Channel);
        Assert.Equal(_receiver.Url, workflowTarget.Where);
        // Nothing has run: the workflow waits; the 503 was answered first, then the state was acknowledged.
        Assert.Equal("waiting", workflowTarget.Desired);
        Assert.Equal("waiting", workflowTarget.Acknowledged);
        Assert.Equal(2, workflowTarget.Writes);
        Assert.Equal(0, workflowTarget.Attempts);
        Assert.Null(workflowTarget.NextTryAt);
        Assert.False(workflowTarget.Done);
        Assert.Equal("a", view.Targets[1].Job);
        Assert.Equal("pending#0", view.Targets[1].Desired);

        using var missing = await server.Client.GetAsync("/api/v1/workflows/987654321/status-reports");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var retry = await server.Client.PostAsync($"/api/v1/workflows/{workflowId}/status-reports/retry", null);
        Assert.Equal(0, (await retry.Content.ReadFromJsonAsync<StatusReportsRetried>(KilnClient.Json))!.Reopened);
    }

    private async Task<string> ProjectAsync()
    {
        var project = HookFarm.Unique("whp");
        using var created = await server.Client.PostAsJsonAsync("/api/v1/projects", new { name = project });
        created.EnsureSuccessStatusCode();
        return project;
    }

    private async Task<WebhookSecretView> SubscribeAsync(string project, string[] events)
    {
        using var response = await server.Client.PostAsJsonAsync($"/api/v1/projects/{project}/webhooks", new CreateWebhookRequest(_receiver.Url, events));
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var made = (await response.Content.ReadFromJsonAsync<WebhookSecretView>(KilnClient.Json))!;
        Assert.StartsWith("whsec_", made.Secret, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(made.Secret[6..]).Length);
        _receiver.Secret = made.Secret;
        return made;
    }

    private async Task<long> SubmitAsync(string project, string queue)
    {
        var doc = new WorkflowDocument { Project = project, Jobs = new() { ["a"] = new JobDocument { Run = "true", Requires = new() { Queue = queue } } } };
        using var response = await server.Client.PostAsJsonAsync("/api/v1/workflows", doc);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;
    }

    private async Task<Page<WebhookDeliveryView>> DeliveriesAsync(long id) =>
        (await server.Client.GetFromJsonAsync<Page<WebhookDeliveryView>>($"/api/v1/webhooks/{id}/deliveries", KilnClient.Json))!;

    private static Task UntilAsync(Func<bool> condition) => UntilAsync(() => Task.FromResult(condition()));

    private static async Task UntilAsync(Func<Task<bool>> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), "the webhook did not arrive");
            await Task.Delay(50);
        }
    }
}
