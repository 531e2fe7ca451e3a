using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

public sealed class ApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private HttpClient Client => server.Client;

    [Theory]
    [InlineData("""{"jobs":{"a":{"run":"x","needs":["b"]},"b":{"run":"y","needs":["a"]}}}""", "jobs", "cycle")]
    [InlineData("""{"jobs":{"a":{"run":"x","needs":["nope"]}}}""", "jobs.a.needs[0]", "unknown job 'nope'")]
    [InlineData("""{"jobs":{"a":{"run":"x"},"a":{"run":"y"}}}""", "jobs.a", "")]
    [InlineData("""{"jobs":{"a":{"run":"x","need":["b"]}}}""", "jobs.a.need", "unknown property")]
    [InlineData("""{"jobs":{"a":{"run":"x","timeout":"soon"}}}""", "jobs.a.timeout", "")]
    [InlineData("""{"jobs":{}}""", "jobs", "at least one job")]
    [InlineData("""{"jobs":{"a":{"run":"x"}""", "jobs.a", "invalid JSON")]
    [InlineData("""[1,2]""", "", "")]
    [InlineData("""{"jobs":{"a b":{"run":"x"}}}""", "jobs.a b", "not a valid name")]
    public async Task Invalid_workflows_get_a_400_problem_naming_the_field_and_store_nothing(string body, string field, string says)
    {
        var before = await CountAsync("work_requests") + await CountAsync("workflows");
        using var response = await Client.PostAsync("/api/v1/workflows", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var errors = problem.GetProperty("errors").EnumerateArray().ToList();
        Assert.Contains(errors, e => e.GetProperty("field").GetString() == field);
        Assert.Contains(says, problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(before, await CountAsync("work_requests") + await CountAsync("workflows"));
    }

    [Fact]
    public async Task An_oversize_document_is_refused_with_413_before_it_is_parsed()
    {
        var huge = new string('x', 9 * 1024 * 1024);
        using var response = await Client.PostAsync("/api/v1/workflows", new StringContent("{\"jobs\":{\"a\":{\"run\":\"" + huge + "\"}}}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("limit", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_repeated_submission_with_an_idempotency_key_header_returns_the_existing_workflow()
    {
        var doc = new WorkflowDocument { Project = "api", Jobs = new() { ["a"] = new JobDocument { Run = "true" } } };
        using var first = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workflows") { Content = JsonContent.Create(doc), Headers = { { "Idempotency-Key", "tag-v1.2" } } };
        using var second = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workflows") { Content = JsonContent.Create(doc), Headers = { { "Idempotency-Key", "tag-v1.2" } } };
        using var created = await Client.SendAsync(first);
        using var repeated = await Client.SendAsync(second);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.OK, repeated.StatusCode);
        var a = await created.Content.ReadFromJsonAsync<SubmitWorkflowResponse>();
        var b = await repeated.Content.ReadFromJsonAsync<SubmitWorkflowResponse>();
        Assert.Equal(a!.Id, b!.Id);
        Assert.False(b.Created);
        Assert.Equal($"/api/v1/workflows/{a.Id}", created.Headers.Location?.ToString());
    }

    [Fact]
    public async Task A_long_poll_claim_returns_as_soon_as_matching_work_is_submitted()
    {
        using var worker = await server.RegisterWorkerAsync("poller", queues: ["longpoll"]);
        var watch = Stopwatch.StartNew();
        var claim = worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(2, 10));
        await Task.Delay(300);
        Assert.False(claim.IsCompleted);
        await Submit(new WorkflowDocument { Jobs = new() { ["a"] = new JobDocument { Run = "true", Requires = new() { Queue = "longpoll" } } } });
        using var response = await claim;
        var assignments = (await response.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments;
        Assert.Single(assignments);
        // Woken by the submission, not by the 10 s timeout (a loose bound: this is not a benchmark).
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"the claim returned after {watch.Elapsed}");
    }

    [Fact]
    public async Task A_long_poll_with_nothing_to_do_returns_empty_after_the_wait()
    {
        using var worker = await server.RegisterWorkerAsync("idle", queues: ["empty-queue"]);
        var watch = Stopwatch.StartNew();
        using var response = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 1));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty((await response.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9));
    }

    [Fact]
    public async Task A_completion_after_the_lease_expired_is_refused_with_409_and_a_clear_body()
    {
        using var worker = await server.RegisterWorkerAsync("sleepy", queues: ["late"]);
        await Submit(new WorkflowDocument { Jobs = new() { ["a"] = new JobDocument { Run = "true", Requires = new() { Queue = "late" } } } });
        var assignment = await ClaimOneAsync(worker);

        // The fixture's lease is 3 s and the reaper runs every 250 ms: wait for the reaper to act.
        var requeued = await WaitUntilAsync(async () =>
            (await Client.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{assignment.WorkRequestId}"))!.Attempts.Count == 1);
        Assert.True(requeued, "the reaper did not requeue the expired lease within lease + 5 s");

        using var late = await worker.PostAsJsonAsync($"/api/v1/work-requests/{assignment.WorkRequestId}/complete",
            new CompleteRequest(assignment.LeaseToken, "succeeded", 0, null));
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        var problem = await late.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Lease expired", problem.GetProperty("title").GetString());
        Assert.Contains("refused", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Workers_must_authenticate_and_registration_needs_the_farm_token()
    {
        using var anonymous = await Client.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 0));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var wrongToken = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workers/register")
        {
            Content = JsonContent.Create(new RegisterWorkerRequest("x", null, null, null, 1)),
            Headers = { { "Authorization", "Bearer not-the-token" } },
        };
        using var refused = await Client.SendAsync(wrongToken);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task Bad_claim_and_report_bodies_are_400s_naming_the_field()
    {
        using var worker = await server.RegisterWorkerAsync("picky");
        using var slots = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(0, 0));
        Assert.Equal("slots", await FirstErrorFieldAsync(slots));
        using var wait = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 3600));
        Assert.Equal("waitSeconds", await FirstErrorFieldAsync(wait));
        using var result = await worker.PostAsJsonAsync("/api/v1/work-requests/1/complete", new CompleteRequest(Guid.NewGuid(), "great", 0, null));
        Assert.Equal("result", await FirstErrorFieldAsync(result));
    }

    [Fact]
    public async Task A_report_batch_records_each_report_and_answers_each_on_its_own()
    {
        using var worker = await server.RegisterWorkerAsync("batcher", queues: ["batch"]);
        await Submit(new WorkflowDocument
        {
            Jobs = new()
            {
                ["ok"] = new JobDocument { Run = "true", Requires = new() { Queue = "batch" }, Matrix = new() { ["n"] = ["1", "2", "3"] } },
                ["bad"] = new JobDocument { Run = "false", Requires = new() { Queue = "batch" } },
                ["back"] = new JobDocument { Run = "true", Requires = new() { Queue = "batch" } },
            },
        });
        using var claimed = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(5, 5));
        var assignments = (await claimed.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments;
        Assert.Equal(5, assignments.Count);
        var reports = assignments.Select(a => a.Name switch
        {
            "bad" => new WorkerReport(a.WorkRequestId, a.LeaseToken, "failed", 1, "exit 1"),
            "back" => new WorkerReport(a.WorkRequestId, a.LeaseToken, "released", null, null),
            _ => new WorkerReport(a.WorkRequestId, a.LeaseToken, "succeeded", 0, null),
        }).ToList();
        var stale = assignments.First(a => a.Name == "bad") with { LeaseToken = Guid.NewGuid() };
        reports.Add(new WorkerReport(int.MaxValue, Guid.NewGuid(), "succeeded", 0, null));

        using var response = await worker.PostAsJsonAsync("/api/v1/work-requests/reports", new ReportBatchRequest(reports));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.Content.ReadFromJsonAsync<ReportBatchResponse>())!.Results;
        Assert.Equal(reports.Select(r => r.WorkRequestId), results.Select(r => r.WorkRequestId));
        var byName = assignments.ToDictionary(a => a.WorkRequestId, a => a.Name);
        foreach (var r in results.Take(5))
        {
            Assert.Equal(200, r.Status);
            Assert.Equal(byName[r.WorkRequestId] switch { "bad" => "failed", "back" => "pending", _ => "succeeded" }, r.Report!.State);
        }
        Assert.Equal(404, results[5].Status);
        Assert.Contains("does not exist", results[5].Problem);

        // Repeating the batch repeats the answers; a stale lease in a batch is refused alone.
        using var again = await worker.PostAsJsonAsync("/api/v1/work-requests/reports", new ReportBatchRequest([.. reports.Take(5)]));
        var repeated = (await again.Content.ReadFromJsonAsync<ReportBatchResponse>())!.Results;
        Assert.Equal(results.Take(5).Select(r => r.Report!.State), repeated.Select(r => r.Report!.State));
        using var staleResponse = await worker.PostAsJsonAsync("/api/v1/work-requests/reports",
            new ReportBatchRequest([new WorkerReport(stale.WorkRequestId, stale.LeaseToken, "failed", 1, null)]));
        var refused = Assert.Single((await staleResponse.Content.ReadFromJsonAsync<ReportBatchResponse>())!.Results);
        Assert.Equal(409, refused.Status);
        Assert.NotNull(refused.Problem);
    }

    [Fact]
    public async Task A_report_batch_with_one_bad_report_is_a_400_naming_it_and_records_nothing()
    {
        using var worker = await server.RegisterWorkerAsync("batcher-bad", queues: ["batch-bad"]);
        await Submit(new WorkflowDocument { Jobs = new() { ["a"] = new JobDocument { Run = "true", Requires = new() { Queue = "batch-bad" } } } });
        var assignment = await ClaimOneAsync(worker);
        var good = new WorkerReport(assignment.WorkRequestId, assignment.LeaseToken, "succeeded", 0, null);

        using var badResult = await worker.PostAsJsonAsync("/api/v1/work-requests/reports",
            new ReportBatchRequest([good, new WorkerReport(1, Guid.NewGuid(), "great", 0, null)]));
        Assert.Equal("reports[1].result", await FirstErrorFieldAsync(badResult));
        using var twice = await worker.PostAsJsonAsync("/api/v1/work-requests/reports", new ReportBatchRequest([good, good]));
        Assert.Equal("reports[1].workRequestId", await FirstErrorFieldAsync(twice));
        using var errorWithoutReason = await worker.PostAsJsonAsync("/api/v1/work-requests/reports",
            new ReportBatchRequest([good with { Result = "error" }]));
        Assert.Equal("reports[0].message", await FirstErrorFieldAsync(errorWithoutReason));
        using var empty = await worker.PostAsJsonAsync("/api/v1/work-requests/reports", new ReportBatchRequest([]));
        Assert.Equal("reports", await FirstErrorFieldAsync(empty));

        // None of those recorded the good report: the work request is still running.
        var view = await Client.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{assignment.WorkRequestId}");
        Assert.Equal("running", view!.Summary.State);
    }

    [Fact]
    public async Task Lists_page_by_keyset_without_gaps_or_repeats_and_reject_bad_parameters()
    {
        var ids = new List<long>();
        for (var i = 0; i < 7; i++)
        {
            ids.Add(await Submit(new WorkflowDocument { Project = "paging", Jobs = new() { ["a"] = new JobDocument { Run = "true", Requires = new() { Queue = "paging" } } } }));
        }
        var seen = new List<long>();
        string? after = null;
        do
        {
            var page = (await Client.GetFromJsonAsync<Page<WorkflowView>>($"/api/v1/workflows?project=paging&limit=3{(after is null ? "" : $"&after={after}")}"))!;
            Assert.True(page.Items.Count <= 3);
            seen.AddRange(page.Items.Select(w => w.Id));
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal(ids.OrderDescending(), seen);

        using var badLimit = await Client.GetAsync("/api/v1/workflows?limit=100000");
        Assert.Equal("limit", await FirstErrorFieldAsync(badLimit));
        using var badState = await Client.GetAsync("/api/v1/work-requests?state=sleeping");
        Assert.Equal("state", await FirstErrorFieldAsync(badState));
        using var missing = await Client.GetAsync("/api/v1/workflows/987654");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task The_server_describes_its_api_with_openapi()
    {
        var doc = await Client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = doc.GetProperty("paths");
        foreach (var path in (string[])["/api/v1/workflows", "/api/v1/workers/claim", "/api/v1/work-requests/{id}/complete"])
        {
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is missing from the OpenAPI document");
        }
    }

    private async Task<long> Submit(WorkflowDocument doc)
    {
        using var response = await Client.PostAsJsonAsync("/api/v1/workflows", doc);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;
    }

    private static async Task<Assignment> ClaimOneAsync(HttpClient worker)
    {
        using var response = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 5));
        return Assert.Single((await response.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments);
    }

    private static async Task<string?> FirstErrorFieldAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        return problem.GetProperty("errors")[0].GetProperty("field").GetString();
    }

    private static async Task<bool> WaitUntilAsync(Func<Task<bool>> condition)
    {
        var until = Stopwatch.StartNew();
        while (until.Elapsed < TimeSpan.FromSeconds(8) + TimeSpan.FromSeconds(3))
        {
            if (await condition())
            {
                return true;
            }
            await Task.Delay(200);
        }
        return false;
    }

    private async Task<long> CountAsync(string table)
    {
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        await using var cmd = db.CreateCommand($"SELECT count(*) FROM {table}");
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
