using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>
/// Text that PostgreSQL would refuse (U+0000), broken Unicode and misplaced control characters
/// are refused at the edge with a 400 naming the field — in query parameters, path segments,
/// headers and every string of every body — and nothing is stored.
/// </summary>
public sealed class EdgeValidationTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private HttpClient Client => server.Client;

    [Theory]
    [InlineData("/api/v1/workflows?project=%00", "project")]
    [InlineData("/api/v1/workflows?project=a%00b&limit=5", "project")]
    [InlineData("/api/v1/work-requests?queue=%00", "queue")]
    [InlineData("/api/v1/work-requests?project=%00", "project")]
    [InlineData("/api/v1/work-requests?project=x%0Ay", "project")]
    [InlineData("/api/v1/projects/a%01b", "name")]
    [InlineData("/api/v1/work-requests/1/artifacts/a%0Ab", "path")]
    public async Task A_NUL_or_control_character_in_a_query_parameter_or_path_is_a_400_naming_it(string url, string field)
    {
        using var response = await Client.GetAsync(url);

        Assert.Equal(field, await FirstErrorFieldAsync(response));
    }

    [Fact]
    public async Task A_query_parameter_of_the_wrong_type_is_a_400_naming_it()
    {
        using var response = await Client.GetAsync("/api/v1/work-requests?workflow=abc");

        Assert.Equal("workflow", await FirstErrorFieldAsync(response));
    }

    [Fact]
    public async Task An_overlong_query_parameter_is_a_400_naming_it()
    {
        using var response = await Client.GetAsync("/api/v1/workflows?project=" + new string('p', 3000));

        Assert.Equal("project", await FirstErrorFieldAsync(response));
    }

    [Theory]
    [InlineData("""{"name":"a\u0000b","jobs":{"a":{"run":"true"}}}""", "name")]
    [InlineData("""{"jobs":{"a":{"run":"echo \u0000"}}}""", "jobs.a.run")]
    [InlineData("""{"jobs":{"a":{"run":"true","env":{"X":"\u0000"}}}}""", "jobs.a.env.X")]
    [InlineData("""{"jobs":{"a":{"run":"true","env":{"X\u0000":"1"}}}}""", "jobs.a.env")]
    [InlineData("""{"jobs":{"a":{"run":"echo \ud800"}}}""", "jobs.a.run")]
    [InlineData("""{"jobs":{"a":{"run":"echo \u001b[31m"}}}""", "jobs.a.run")]
    [InlineData("""{"idempotencyKey":"k\u0000","jobs":{"a":{"run":"true"}}}""", "idempotencyKey")]
    [InlineData("""{"jobs":{"a":{"run":"true","requires":{"tags":["\u0000"]}}}}""", "jobs.a.requires.tags[0]")]
    public async Task Bad_text_anywhere_in_a_workflow_is_a_400_naming_its_path_and_stores_nothing(string body, string field)
    {
        var before = await CountAsync("workflows");

        using var response = await Client.PostAsync("/api/v1/workflows", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(field, await FirstErrorFieldAsync(response));
        Assert.Equal(before, await CountAsync("workflows"));
    }

    [Fact]
    public async Task A_script_keeps_its_tabs_and_newlines()
    {
        using var response = await Client.PostAsJsonAsync("/api/v1/workflows",
            new WorkflowDocument { Jobs = new() { ["a"] = new JobDocument { Run = "set -e\n\techo ok\r\n" } } });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task A_NUL_in_a_report_message_is_a_400_naming_it_and_the_good_report_is_not_lost()
    {
        using var worker = await server.RegisterWorkerAsync("nul-reporter", queues: ["nul"]);
        using var submitted = await Client.PostAsJsonAsync("/api/v1/workflows",
            new WorkflowDocument { Jobs = new() { ["a"] = new JobDocument { Run = "true", Requires = new() { Queue = "nul" } } } });
        using var claimed = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 5));
        var a = Assert.Single((await claimed.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments);

        using var single = await worker.PostAsJsonAsync($"/api/v1/work-requests/{a.WorkRequestId}/complete",
            new CompleteRequest(a.LeaseToken, "failed", 1, "bad\0byte"));
        Assert.Equal("message", await FirstErrorFieldAsync(single));
        using var batch = await worker.PostAsJsonAsync("/api/v1/work-requests/reports",
            new ReportBatchRequest([new WorkerReport(a.WorkRequestId, a.LeaseToken, "failed", 1, "bad\0byte")]));
        Assert.Equal("reports[0].message", await FirstErrorFieldAsync(batch));

        // The refusal recorded nothing; the same report without the NUL is recorded.
        using var good = await worker.PostAsJsonAsync("/api/v1/work-requests/reports",
            new ReportBatchRequest([new WorkerReport(a.WorkRequestId, a.LeaseToken, "failed", 1, "bad byte")]));
        var outcome = Assert.Single((await good.Content.ReadFromJsonAsync<ReportBatchResponse>())!.Results);
        Assert.Equal(200, outcome.Status);
    }

    [Fact]
    public async Task A_heartbeat_with_a_null_lease_is_a_400_naming_it()
    {
        using var worker = await server.RegisterWorkerAsync("null-heartbeat");

        using var response = await worker.PostAsync("/api/v1/workers/heartbeat", new StringContent("""{"leases":[null]}""", Encoding.UTF8, "application/json"));

        Assert.Equal("leases[0]", await FirstErrorFieldAsync(response));
    }

    [Fact]
    public async Task A_NUL_in_the_idempotency_key_header_is_a_400_naming_the_header()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workflows")
        {
            Content = JsonContent.Create(new WorkflowDocument { Jobs = new() { ["a"] = new JobDocument { Run = "true" } } }),
        };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "key\u0001");

        using var response = await Client.SendAsync(request);

        Assert.Equal("Idempotency-Key", await FirstErrorFieldAsync(response));
    }

    [Fact]
    public async Task A_different_document_under_an_existing_idempotency_key_is_a_409_naming_the_key()
    {
        var doc = new WorkflowDocument { Project = "idem", IdempotencyKey = "release-1.0", Jobs = new() { ["a"] = new JobDocument { Run = "true" } } };
        using var first = await Client.PostAsJsonAsync("/api/v1/workflows", doc);
        var created = await first.Content.ReadFromJsonAsync<SubmitWorkflowResponse>();
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);

        // The same document, written differently (other property order, other spacing), is a repeat.
        using var same = await Client.PostAsync("/api/v1/workflows", new StringContent(
            """{ "jobs": {"a": {"run": "true"}},   "idempotencyKey": "release-1.0", "project": "idem" }""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        Assert.Equal(created!.Id, (await same.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id);

        using var different = await Client.PostAsJsonAsync("/api/v1/workflows", doc with { Jobs = new() { ["a"] = new JobDocument { Run = "false" } } });
        Assert.Equal(HttpStatusCode.Conflict, different.StatusCode);
        Assert.Equal("application/problem+json", different.Content.Headers.ContentType?.MediaType);
        var problem = await different.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("idempotencyKey", problem.GetProperty("errors")[0].GetProperty("field").GetString());
        Assert.Contains($"workflow {created.Id}", problem.GetProperty("detail").GetString());
        Assert.Equal(1, await CountAsync("workflows WHERE idempotency_key = 'release-1.0'"));
    }

    private static async Task<string?> FirstErrorFieldAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"expected 400, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(text).RootElement.GetProperty("errors")[0].GetProperty("field").GetString();
    }

    private async Task<long> CountAsync(string table)
    {
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        await using var cmd = db.CreateCommand($"SELECT count(*) FROM {table}");
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
