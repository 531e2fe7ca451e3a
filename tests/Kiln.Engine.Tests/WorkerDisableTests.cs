using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Operators block and retire workers: a disabled worker's secret is refused at once, its
/// running work goes back to the queue without charging an attempt, and it may not register
/// again until enabled; a removed worker leaves the list but its attempts keep its name.
/// Against a real server.
/// </summary>
public sealed class WorkerDisableTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private HttpClient Client => server.Client;

    [Fact]
    public async Task A_disabled_worker_is_refused_at_once_its_work_goes_back_uncharged_and_it_may_not_register_again()
    {
        using var worker = await server.RegisterWorkerAsync("retiree", queues: ["retire"]);
        var id = await SubmitOneAttemptAsync("retire");
        var held = Assert.Single(await ClaimAsync(worker));

        using var disable = await Client.PostAsync("/api/v1/workers/retiree/disable", null);
        Assert.Equal(HttpStatusCode.OK, disable.StatusCode);
        var answer = (await disable.Content.ReadFromJsonAsync<ActionResponse>())!;
        Assert.Equal(1, answer.Affected);
        Assert.Contains($"{held.WorkRequestId}", answer.Message, StringComparison.Ordinal);

        // Handed back at once, uncharged: with one attempt allowed, a charged attempt would have failed the job.
        var view = (await Client.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{held.WorkRequestId}"))!;
        Assert.Equal("pending", view.Summary.State);
        Assert.Null(view.NotBefore);
        Assert.Equal("released", Assert.Single(view.Attempts).Outcome);

        // Its secret no longer works, and the refusal says why and how to undo it.
        using var claim = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 0));
        await AssertProblemAsync(claim, HttpStatusCode.Forbidden, "disabled", "kiln worker enable retiree");
        using var heartbeat = await worker.PostAsJsonAsync("/api/v1/workers/heartbeat", new HeartbeatRequest([new LeaseRef(held.WorkRequestId, held.LeaseToken)]));
        await AssertProblemAsync(heartbeat, HttpStatusCode.Forbidden, "disabled");
        using var late = await worker.PostAsJsonAsync($"/api/v1/work-requests/{held.WorkRequestId}/complete", new CompleteRequest(held.LeaseToken, "succeeded", 0, null));
        await AssertProblemAsync(late, HttpStatusCode.Forbidden, "disabled");
        using var again = await RegisterAsync("retiree", "retire");
        await AssertProblemAsync(again, HttpStatusCode.Forbidden, "worker 'retiree' is disabled", "kiln worker enable retiree");

        var listed = (await Client.GetFromJsonAsync<Page<WorkerView>>("/api/v1/workers/"))!.Items.Single(w => w.Name == "retiree");
        Assert.NotNull(listed.DisabledAt);
        Assert.Equal(0, listed.Running);

        // Another worker runs it as attempt 2 and it succeeds.
        using var other = await server.RegisterWorkerAsync("successor", queues: ["retire"]);
        var next = Assert.Single(await ClaimAsync(other));
        Assert.Equal(held.WorkRequestId, next.WorkRequestId);
        Assert.Equal(2, next.Attempt);
        using var done = await other.PostAsJsonAsync($"/api/v1/work-requests/{next.WorkRequestId}/complete", new CompleteRequest(next.LeaseToken, "succeeded", 0, null));
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        var workflow = (await Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{id}"))!;
        Assert.Equal("succeeded", workflow.State);
    }

    [Fact]
    public async Task An_enabled_worker_must_register_again_for_a_new_secret_and_then_gets_work()
    {
        using var worker = await server.RegisterWorkerAsync("returner", queues: ["return"]);
        using (var disable = await Client.PostAsync("/api/v1/workers/returner/disable", null))
        {
            Assert.Equal(HttpStatusCode.OK, disable.StatusCode);
        }

        using var enable = await Client.PostAsync("/api/v1/workers/returner/enable", null);
        Assert.Equal(HttpStatusCode.OK, enable.StatusCode);
        Assert.Equal(1, (await enable.Content.ReadFromJsonAsync<ActionResponse>())!.Affected);
        Assert.Null((await Client.GetFromJsonAsync<Page<WorkerView>>("/api/v1/workers/"))!.Items.Single(w => w.Name == "returner").DisabledAt);

        // The old secret stays dead: enabling does not bring it back.
        using var stale = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 0));
        await AssertProblemAsync(stale, HttpStatusCode.Unauthorized, "register again");
        using var registered = await server.RegisterWorkerAsync("returner", queues: ["return"]);
        await SubmitOneAttemptAsync("return");
        Assert.Single(await ClaimAsync(registered));

        // Enabling a worker that is not disabled changes nothing.
        using var twice = await Client.PostAsync("/api/v1/workers/returner/enable", null);
        Assert.Equal(0, (await twice.Content.ReadFromJsonAsync<ActionResponse>())!.Affected);
    }

    [Fact]
    public async Task A_worker_is_removed_only_once_it_runs_nothing_and_its_history_keeps_its_name()
    {
        using var worker = await server.RegisterWorkerAsync("leaver", queues: ["leave"]);
        await SubmitOneAttemptAsync("leave");
        var held = Assert.Single(await ClaimAsync(worker));

        using var refused = await Client.DeleteAsync("/api/v1/workers/leaver");
        await AssertProblemAsync(refused, HttpStatusCode.Conflict, $"runs 1 work request(s): {held.WorkRequestId} ", "kiln worker disable leaver");
        Assert.Contains((await Client.GetFromJsonAsync<Page<WorkerView>>("/api/v1/workers/"))!.Items, w => w.Name == "leaver");

        using (var done = await worker.PostAsJsonAsync($"/api/v1/work-requests/{held.WorkRequestId}/complete", new CompleteRequest(held.LeaseToken, "succeeded", 0, null)))
        {
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        }
        using var removed = await Client.DeleteAsync("/api/v1/workers/leaver");
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);

        Assert.DoesNotContain((await Client.GetFromJsonAsync<Page<WorkerView>>("/api/v1/workers/"))!.Items, w => w.Name == "leaver");
        var view = (await Client.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{held.WorkRequestId}"))!;
        Assert.Equal("leaver", Assert.Single(view.Attempts).WorkerName);
        using var stale = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 0));
        Assert.Equal(HttpStatusCode.Unauthorized, stale.StatusCode);
        using var gone = await Client.DeleteAsync("/api/v1/workers/leaver");
        await AssertProblemAsync(gone, HttpStatusCode.NotFound, "no worker named 'leaver'");
        using var invalid = await Client.PostAsync("/api/v1/workers/bad%20name/disable", null);
        await AssertProblemAsync(invalid, HttpStatusCode.BadRequest, "name");
    }

    private async Task<long> SubmitOneAttemptAsync(string queue)
    {
        using var response = await Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Jobs = new() { ["only"] = new JobDocument { Run = "true", Requires = new() { Queue = queue }, Retry = new() { MaxAttempts = 1 } } },
        });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;
    }

    private async Task<HttpResponseMessage> RegisterAsync(string name, string queue)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workers/register")
        {
            Content = JsonContent.Create(new RegisterWorkerRequest(name, ["amd64"], [], [queue], 1)),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Host.WorkerToken);
        return await Client.SendAsync(request);
    }

    private static async Task<IReadOnlyList<Assignment>> ClaimAsync(HttpClient worker)
    {
        using var response = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 5));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments;
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, params string[] says)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var detail = problem.RootElement.GetProperty("detail").GetString()!;
        foreach (var s in says)
        {
            Assert.Contains(s, detail, StringComparison.Ordinal);
        }
    }
}
