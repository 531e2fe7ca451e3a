using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Every worker write is fenced by (worker, lease): a worker that learnt another worker's lease
/// token can neither end its attempt nor write into its log or artifacts, over the real API.
/// </summary>
public sealed class WorkerFenceTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task A_worker_cannot_report_log_or_upload_on_another_workers_lease_and_the_holders_attempt_is_untouched()
    {
        var farm = new PoolSetup(server);
        var id = Assert.Single(await farm.SubmitAsync("fence-project", "fx", 1));
        using var holder = await server.RegisterWorkerAsync("fence-holder", queues: ["fx"]);
        using var intruder = await server.RegisterWorkerAsync("fence-intruder", queues: ["fx"]);
        var held = Assert.Single((await PoolSetup.ClaimAsync(holder)).Assignments);
        var token = held.LeaseToken;

        using (var complete = await intruder.PostAsJsonAsync($"/api/v1/work-requests/{id}/complete", new CompleteRequest(token, "succeeded", 0, null)))
        {
            Assert.Equal(HttpStatusCode.Conflict, complete.StatusCode);
        }
        using (var fail = await intruder.PostAsJsonAsync($"/api/v1/work-requests/{id}/fail", new EndWithoutResultRequest(token, "x")))
        {
            Assert.Equal(HttpStatusCode.Conflict, fail.StatusCode);
        }
        using (var release = await intruder.PostAsJsonAsync($"/api/v1/work-requests/{id}/release", new EndWithoutResultRequest(token, "x")))
        {
            Assert.Equal(HttpStatusCode.Conflict, release.StatusCode);
        }
        using (var batch = await intruder.PostAsJsonAsync("/api/v1/work-requests/reports", new ReportBatchRequest([new WorkerReport(id, token, "succeeded", 0, null)])))
        {
            Assert.Equal(HttpStatusCode.OK, batch.StatusCode);
            Assert.Equal(409, Assert.Single((await batch.Content.ReadFromJsonAsync<ReportBatchResponse>())!.Results).Status);
        }
        using (var log = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/work-requests/{id}/log?attempt={held.Attempt}&offset=0") { Content = new ByteArrayContent("forged\n"u8.ToArray()) })
        {
            log.Headers.Add(LeaseHeaders.LeaseToken, token.ToString());
            using var append = await intruder.SendAsync(log);
            Assert.Equal(HttpStatusCode.Conflict, append.StatusCode);
        }
        var bytes = "forged artifact"u8.ToArray();
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        using (var content = new HttpRequestMessage(HttpMethod.Put, $"/api/v1/work-requests/{id}/artifacts/content?sha256={sha}&size={bytes.Length}&offset=0") { Content = new ByteArrayContent(bytes) })
        {
            content.Headers.Add(LeaseHeaders.LeaseToken, token.ToString());
            using var upload = await intruder.SendAsync(content);
            Assert.Equal(HttpStatusCode.Conflict, upload.StatusCode);
        }
        using (var declare = await intruder.PostAsJsonAsync($"/api/v1/work-requests/{id}/artifacts/", new ArtifactUploadRequest(token, "out.txt", sha, bytes.Length)))
        {
            Assert.Equal(HttpStatusCode.Conflict, declare.StatusCode);
        }

        // The holder's attempt is as it was: running, no attempt ended, nothing in its log or artifacts.
        var view = (await farm.Admin.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{id}"))!;
        Assert.Equal("running", view.Summary.State);
        Assert.Empty(view.Attempts);
        Assert.Equal("", await farm.Admin.GetStringAsync($"/api/v1/work-requests/{id}/log?attempt={held.Attempt}"));
        Assert.Empty((await farm.Admin.GetFromJsonAsync<ArtifactList>($"/api/v1/work-requests/{id}/artifacts/"))!.Items);
        using var done = await holder.PostAsJsonAsync($"/api/v1/work-requests/{id}/complete", new CompleteRequest(token, "succeeded", 0, null));
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
    }
}
