using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Server.Api;
using Kiln.Store.Engine;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// Held and queued workflows through a real server: list, approve (--rule R --first N, ids),
/// discard, who may, the audit log, and what retry and explain say about a workflow that waits.
/// </summary>
public sealed class HeldWorkflowsApiTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private static int s_instances;
    private SecretsFarm _farm = null!;
    private string Project => _farm.ProjectA;

    private string _prefix = "";

    public async Task InitializeAsync()
    {
        _prefix = $"held{Interlocked.Increment(ref s_instances)}";
        _farm = await SecretsFarm.CreateAsync(server, _prefix);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private async Task<long> RuleAsync(string name) => (long)(await _farm.SqlAsync("""
        INSERT INTO trigger_rules (project_id, name, version, definition, workflow_document, workflow_sha256)
        SELECT id, @c, 1, '{}', '', '' FROM projects WHERE name = @a RETURNING id
        """, Project, 0, name))!;

    /// <summary>Stores a held workflow as the storm guard does (the trigger processor's submission).</summary>
    private async Task<long> HeldAsync(long? rule, string? group = null)
    {
        var doc = new WorkflowDocument
        {
            Project = Project,
            Concurrency = group is null ? null : new() { Group = group },
            Jobs = new() { ["build"] = new() { Run = "make" }, ["test"] = new() { Run = "make check", Needs = ["build"] } },
        };
        var (plan, _) = server.Host.Services.GetRequiredService<WorkflowPlanner>().Plan(doc);
        var origin = new WorkflowOrigin(RuleId: rule, InputKey: rule is null ? null : Guid.NewGuid().ToString(), Hold: WorkflowState.Held,
            ConcurrencyGroup: plan!.Concurrency?.Group, CancelInProgress: false);
        return (await server.Host.Services.GetRequiredService<SubmissionStore>()
            .SubmitAsync(plan, JsonSerializer.Serialize(doc, ApiJson.Options), default, origin: origin)).WorkflowId;
    }

    private static async Task<(HttpStatusCode Status, HeldActionResponse? Body, string Text)> ActAsync(HttpClient client, string action, object selection)
    {
        using var response = await client.PostAsJsonAsync($"/api/v1/held/{action}", selection);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, response.IsSuccessStatusCode ? JsonSerializer.Deserialize<HeldActionResponse>(text, ApiJson.Options) : null, text);
    }

    private async Task<WorkflowView> WorkflowAsync(long id) => (await server.Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{id}", ApiJson.Options))!;

    private async Task<WorkflowView> EventuallyAsync(long id, string state)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var view = await WorkflowAsync(id);
        while (view.State != state && !deadline.IsCancellationRequested)
        {
            await Task.Delay(50);
            view = await WorkflowAsync(id);
        }
        Assert.Equal(state, view.State);
        return view;
    }

    [Fact]
    public async Task An_owner_approves_the_first_N_held_workflows_of_a_rule_oldest_first_and_the_approval_is_audited()
    {
        var eln = await RuleAsync("eln");
        var other = await RuleAsync("other");
        var held = new[] { await HeldAsync(eln), await HeldAsync(eln), await HeldAsync(eln) };
        var otherHeld = await HeldAsync(other);

        var listed = (await _farm.Owner.GetFromJsonAsync<Page<HeldWorkflowView>>($"/api/v1/held/?project={Project}", ApiJson.Options))!;
        Assert.Equal([.. held, otherHeld], listed.Items.Select(w => w.Id));
        Assert.Equal("eln", listed.Items[0].Rule);
        // A private project's held workflows are not shown to others, and they cannot act on them.
        Assert.Empty((await _farm.OtherOwner.GetFromJsonAsync<Page<HeldWorkflowView>>("/api/v1/held/", ApiJson.Options))!.Items);
        Assert.Equal(HttpStatusCode.NotFound, (await ActAsync(_farm.OtherOwner, "approve", new { ids = new[] { held[0] } })).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await ActAsync(_farm.Maintainer, "approve", new { project = Project, rule = "eln", all = true })).Status);
        var (_, nothing, _) = await ActAsync(_farm.OtherOwner, "approve", new { rule = "eln", all = true });
        Assert.Empty(nothing!.Running);

        var (status, approved, text) = await ActAsync(_farm.Owner, "approve", new { project = Project, rule = "eln", first = 2 });

        Assert.True(status == HttpStatusCode.OK, text);
        Assert.Equal(held[..2], approved!.Running.Order());
        foreach (var id in held[..2])
        {
            var view = await WorkflowAsync(id);
            Assert.Equal(WorkflowState.Running, view.State);
            Assert.Equal(WorkRequestState.Pending, view.Jobs!.Single(j => j.Name == "build").State);
        }
        Assert.Equal(WorkflowState.Held, (await WorkflowAsync(held[2])).State);
        Assert.Equal([held[2], otherHeld], (await _farm.Owner.GetFromJsonAsync<Page<HeldWorkflowView>>($"/api/v1/held/?project={Project}", ApiJson.Options))!.Items.Select(w => w.Id));

        var audit = (string?)await _farm.SqlAsync(
            "SELECT string_agg(actor_name || '|' || (details -> 'workflows')::text, ';') FROM audit_log WHERE action = 'held.approve' AND target = 'project:' || @a", Project);
        Assert.Equal($"{_prefix}-owner|[{held[0]}, {held[1]}]", audit);
    }

    [Fact]
    public async Task A_discarded_held_workflow_is_cancelled_without_running_and_approving_it_afterwards_is_a_conflict()
    {
        var wf = await HeldAsync(null);

        var (status, discarded, text) = await ActAsync(_farm.Owner, "discard", new { ids = new[] { wf } });

        Assert.True(status == HttpStatusCode.OK, text);
        Assert.Equal([wf], discarded!.Discarded);
        var view = await WorkflowAsync(wf);
        Assert.Equal(WorkflowState.Cancelled, view.State);
        Assert.All(view.Jobs!, j => Assert.Equal(WorkRequestState.Cancelled, j.State));
        var again = await ActAsync(_farm.Owner, "approve", new { ids = new[] { wf } });
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Contains($"workflow {wf} is not held", again.Text, StringComparison.Ordinal);
        Assert.Equal(WorkflowState.Cancelled, (await WorkflowAsync(wf)).State);
    }

    [Fact]
    public async Task An_approved_held_workflow_with_a_concurrency_group_is_queued_and_the_duty_releases_it()
    {
        var wf = await HeldAsync(null, group: "deploy-${{ branch }}");

        var (_, approved, text) = await ActAsync(_farm.Owner, "approve", new { ids = new[] { wf } });

        Assert.True(approved is not null, text);
        Assert.Equal([wf], approved.Queued);
        Assert.Empty(approved.Running);
        await EventuallyAsync(wf, WorkflowState.Running);
    }

    [Fact]
    public async Task Retrying_a_held_workflow_or_one_of_its_jobs_is_a_409_that_says_to_approve_it_and_explain_says_the_same()
    {
        var wf = await HeldAsync(null);
        var build = (await WorkflowAsync(wf)).Jobs!.Single(j => j.Name == "build");

        foreach (var path in new[] { $"/api/v1/workflows/{wf}/retry", $"/api/v1/work-requests/{build.Id}/retry" })
        {
            using var response = await _farm.Owner.PostAsync(path, null);
            Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
            Assert.Contains($"kiln held approve {wf}", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        var explained = (await _farm.Owner.GetFromJsonAsync<ExplainView>($"/api/v1/work-requests/{build.Id}/explain", ApiJson.Options))!;
        Assert.Equal("held", explained.Reasons[0].Code);
        Assert.Contains($"kiln held approve {wf}", explained.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_grouped_submission_waits_queued_behind_the_running_one_and_explain_names_it()
    {
        var doc = new WorkflowDocument
        {
            Project = "held-groups",
            Branch = "main",
            Concurrency = new() { Group = "deploy-${{ branch }}" },
            // A queue no worker serves: the first stays running for as long as the test looks.
            Jobs = new() { ["deploy"] = new() { Run = "true", Requires = new() { Queue = "nobody-serves-this" } } },
        };
        async Task<long> SubmitAsync()
        {
            using var response = await server.Client.PostAsJsonAsync("/api/v1/workflows/", doc, ApiJson.Options);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<SubmitWorkflowResponse>(ApiJson.Options))!.Id;
        }
        var first = await SubmitAsync();
        Assert.Equal("deploy-main", (await WorkflowAsync(first)).Origin?.ConcurrencyGroup);
        await EventuallyAsync(first, WorkflowState.Running);

        var second = await SubmitAsync();

        var job = (await WorkflowAsync(second)).Jobs!.Single();
        var explained = (await server.Client.GetFromJsonAsync<ExplainView>($"/api/v1/work-requests/{job.Id}/explain", ApiJson.Options))!;
        Assert.Equal("queued", explained.Reasons[0].Code);
        Assert.Contains($"workflow {first}, the group's running one", explained.Summary, StringComparison.Ordinal);
        using (var retry = await server.Client.PostAsync($"/api/v1/workflows/{second}/retry", null))
        {
            Assert.Equal(HttpStatusCode.Conflict, retry.StatusCode);
        }
        Assert.Equal(WorkflowState.Queued, (await WorkflowAsync(second)).State);

        using (var cancel = await server.Client.PostAsync($"/api/v1/workflows/{first}/cancel", null))
        {
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        }
        await EventuallyAsync(second, WorkflowState.Running);
    }

    [Theory]
    [InlineData("{}", "")]
    [InlineData("""{"first": 0}""", "first")]
    [InlineData("""{"first": 2, "all": true}""", "")]
    [InlineData("""{"ids": []}""", "ids")]
    [InlineData("""{"ids": [0]}""", "ids[0]")]
    [InlineData("""{"ids": [1], "rule": "eln"}""", "ids")]
    [InlineData("""{"all": true, "rule": "no such rule!"}""", "rule")]
    public async Task A_selection_that_is_not_exactly_one_of_ids_first_and_all_is_a_400_naming_the_field(string body, string field)
    {
        using var response = await _farm.Owner.PostAsync("/api/v1/held/approve", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(field, problem.RootElement.GetProperty("errors")[0].GetProperty("field").GetString());
    }
}
