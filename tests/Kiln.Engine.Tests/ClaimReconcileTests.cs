using System.Net;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Lost claim answers and restarted workers must not burn attempts: a claim repeated under
/// its claim id is answered with the work it took, and a worker that registers again under
/// its name hands its old work back at once, uncharged. Against a real server.
/// </summary>
public sealed class ClaimReconcileTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private HttpClient Client => server.Client;

    [Fact]
    public async Task A_claim_repeated_with_its_claim_id_returns_the_same_work_and_the_same_lease_and_claims_nothing_more()
    {
        using var worker = await server.RegisterWorkerAsync("repeater", queues: ["repeat"]);
        await SubmitAsync("repeat", "a", "b");
        var claimId = Guid.NewGuid();

        var first = await ClaimAsync(worker, new ClaimRequest(1, 5, claimId));
        // The answer never arrived: the worker asks again with the same id.
        var repeated = await ClaimAsync(worker, new ClaimRequest(1, 5, claimId));

        var a = Assert.Single(first);
        var again = Assert.Single(repeated);
        Assert.Equal(a.WorkRequestId, again.WorkRequestId);
        Assert.Equal(a.LeaseToken, again.LeaseToken);
        Assert.Equal(1, again.Attempt);
        // The other job is still pending: the repeat took nothing more.
        var pending = await Client.GetFromJsonAsync<Page<WorkRequestSummary>>("/api/v1/work-requests?queue=repeat&state=pending");
        Assert.Single(pending!.Items);

        using var done = await worker.PostAsJsonAsync($"/api/v1/work-requests/{a.WorkRequestId}/complete",
            new CompleteRequest(again.LeaseToken, "succeeded", 0, null));
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        var view = await Client.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{a.WorkRequestId}");
        Assert.Equal("succeeded", view!.Summary.State);
        Assert.Equal("succeeded", Assert.Single(view.Attempts).Outcome);
        // A new claim id claims anew.
        Assert.NotEqual(a.WorkRequestId, Assert.Single(await ClaimAsync(worker, new ClaimRequest(1, 5, Guid.NewGuid()))).WorkRequestId);
    }

    [Fact]
    public async Task A_worker_that_registers_again_under_its_name_hands_its_work_back_at_once_without_charging_an_attempt()
    {
        using var before = await server.RegisterWorkerAsync("restarter", queues: ["restart"]);
        // One attempt only: were the restart charged, the job would fail instead of running again.
        await Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Jobs = new() { ["only"] = new JobDocument { Run = "true", Requires = new() { Queue = "restart" }, Retry = new() { MaxAttempts = 1 } } },
        });
        var old = Assert.Single(await ClaimAsync(before, new ClaimRequest(1, 5)));

        using var after = await server.RegisterWorkerAsync("restarter", queues: ["restart"]);

        var view = await Client.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{old.WorkRequestId}");
        Assert.Equal("pending", view!.Summary.State);
        Assert.Null(view.NotBefore);
        Assert.Equal("released", Assert.Single(view.Attempts).Outcome);
        // Claimable at once, by the restarted worker, and the old lease is dead.
        var next = Assert.Single(await ClaimAsync(after, new ClaimRequest(1, 0)));
        Assert.Equal(old.WorkRequestId, next.WorkRequestId);
        Assert.NotEqual(old.LeaseToken, next.LeaseToken);
        using var done = await after.PostAsJsonAsync($"/api/v1/work-requests/{next.WorkRequestId}/complete",
            new CompleteRequest(next.LeaseToken, "succeeded", 0, null));
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
    }

    private async Task SubmitAsync(string queue, params string[] jobs)
    {
        using var response = await Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Jobs = jobs.ToDictionary(j => j, _ => new JobDocument { Run = "true", Requires = new() { Queue = queue } }),
        });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private static async Task<IReadOnlyList<Assignment>> ClaimAsync(HttpClient worker, ClaimRequest request)
    {
        using var response = await worker.PostAsJsonAsync("/api/v1/workers/claim", request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments;
    }
}
