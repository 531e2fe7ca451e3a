using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Structured results over the real API and database: the worker's upload under its lease, the verdict
/// (a tool's reported failure beats exit code 0), what readers see, and autopkgtest regressions against
/// the results of the version the project's repository publishes.
/// </summary>
public sealed class ResultsApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private readonly PoolSetup _farm = new(server);

    /// <summary>An environment the planner can resolve (its tarball is never fetched here).</summary>
    private async Task EnvironmentAsync()
    {
        const string sha = "ab00000000000000000000000000000000000000000000000000000000000001";
        await _farm.SqlAsync("INSERT INTO blobs (sha256, size, created_at) VALUES (@p0, 1, now()) ON CONFLICT DO NOTHING", sha);
        await _farm.SqlAsync("""
            WITH e AS (INSERT INTO environments (name, builder, created_at) VALUES ('debian/bookworm-amd64', 'imported', now())
                       ON CONFLICT (name) DO NOTHING RETURNING id)
            INSERT INTO environment_versions (environment_id, version, sha256, size, created_at) SELECT id, 3, @p0, 1, now() FROM e
            """, sha);
    }

    /// <summary>Submits one job using <paramref name="uses"/> on its own queue, claims it, and returns the assignment and the claiming worker.</summary>
    private async Task<(Assignment Job, HttpClient Worker)> RunningAsync(string project, string uses, Dictionary<string, string> with)
    {
        await EnvironmentAsync();
        var queue = "q-" + Guid.NewGuid().ToString("N")[..8];
        using var submitted = await _farm.Admin.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Project = project,
            Jobs = new() { ["job"] = new JobDocument { Uses = uses, With = with, Environment = "debian/bookworm-amd64", Requires = new() { Queue = queue } } },
        });
        Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        var worker = await server.RegisterWorkerAsync("w-" + queue, queues: [queue]);
        return (Assert.Single((await PoolSetup.ClaimAsync(worker)).Assignments), worker);
    }

    private static async Task<ResultVerdict> PutAsync(HttpClient worker, Assignment job, string resultJson)
    {
        using var response = await PutRawAsync(worker, job.WorkRequestId, job.LeaseToken, resultJson);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ResultVerdict>())!;
    }

    private static Task<HttpResponseMessage> PutRawAsync(HttpClient worker, long id, Guid lease, string resultJson) =>
        worker.PutAsync($"/api/v1/work-requests/{id}/result",
            new StringContent($"{{\"leaseToken\":\"{lease}\",\"result\":{resultJson}}}", System.Text.Encoding.UTF8, "application/json"));

    [Fact]
    public async Task A_build_sbuild_reports_skipped_fails_despite_exit_code_0_and_readers_see_the_result_and_environment()
    {
        var (job, worker) = await RunningAsync("results-sbuild", "debian/sbuild", new() { ["suite"] = "bookworm" });
        var verdict = await PutAsync(worker, job, """{"status":"skipped","package":"hello","version":"2.10-3","architecture":"amd64","files":[],"failStage":"arch-check"}""");
        Assert.True(verdict.Fail);
        Assert.Equal("sbuild reported Status: skipped (fail stage: arch-check)", verdict.Message);

        var stored = (await _farm.Admin.GetFromJsonAsync<WorkRequestResult>($"/api/v1/work-requests/{job.WorkRequestId}/result"))!;
        Assert.Equal("debian/sbuild", stored.Kind);
        Assert.Equal(job.Attempt, stored.Attempt);
        Assert.Equal("hello", stored.Result.GetProperty("package").GetString());
        var view = (await _farm.Admin.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{job.WorkRequestId}"))!;
        Assert.Equal("skipped", view.Result!.Result.GetProperty("status").GetString());
        Assert.Equal("debian/sbuild", view.Execution!.Uses);
        Assert.Equal(("debian/bookworm-amd64", 3), (view.Execution.Environment!.Name, view.Execution.Environment.Version));
    }

    [Fact]
    public async Task A_successful_build_passes_and_a_repeat_of_the_same_attempt_replaces_its_result()
    {
        var (job, worker) = await RunningAsync("results-repeat", "debian/sbuild", new() { ["suite"] = "bookworm" });
        Assert.True((await PutAsync(worker, job, """{"status":"failed","failStage":"build"}""")).Fail);
        var verdict = await PutAsync(worker, job, """{"status":"successful","package":"hello"}""");
        Assert.False(verdict.Fail);
        Assert.Null(verdict.Message);
        var stored = (await _farm.Admin.GetFromJsonAsync<WorkRequestResult>($"/api/v1/work-requests/{job.WorkRequestId}/result?attempt={job.Attempt}"))!;
        Assert.Equal("successful", stored.Result.GetProperty("status").GetString());
        Assert.Equal(1L, await _farm.SqlAsync("SELECT count(*) FROM work_request_results WHERE work_request_id = @p0", job.WorkRequestId));
    }

    [Theory]
    [InlineData("[1,2]", "JSON object")]
    [InlineData("\"text\"", "JSON object")]
    [InlineData("{\"status\":\"ok\\u0000\"}", "U+0000")]
    [InlineData("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}}}}}}}}}}}", "deeper")]
    public async Task A_result_that_is_not_a_storable_json_object_is_refused_naming_result(string result, string says)
    {
        var (job, worker) = await RunningAsync("results-bad", "debian/lintian", []);
        using var response = await PutRawAsync(worker, job.WorkRequestId, job.LeaseToken, result);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("\"result\"", body);
        Assert.Contains(says, body);
        Assert.Equal(0L, await _farm.SqlAsync("SELECT count(*) FROM work_request_results WHERE work_request_id = @p0", job.WorkRequestId));
    }

    [Fact]
    public async Task A_result_over_256_KiB_is_refused_and_one_under_a_foreign_lease_is_a_conflict()
    {
        var (job, worker) = await RunningAsync("results-limits", "debian/lintian", []);
        using (var big = await PutRawAsync(worker, job.WorkRequestId, job.LeaseToken, $"{{\"blob\":\"{new string('x', 256 * 1024)}\"}}"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, big.StatusCode);
            Assert.Contains("256 KiB", await big.Content.ReadAsStringAsync());
        }
        using var intruder = await server.RegisterWorkerAsync("results-intruder", queues: ["nothing-here"]);
        using (var forged = await PutRawAsync(intruder, job.WorkRequestId, job.LeaseToken, "{\"status\":\"passed\"}"))
        {
            Assert.Equal(HttpStatusCode.Conflict, forged.StatusCode);
        }
        using (var missing = await _farm.Admin.GetAsync($"/api/v1/work-requests/{job.WorkRequestId}/result"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
    }

    private static string Autopkgtest(string version, params (string Name, string Result)[] tests) =>
        JsonSerializer.Serialize(new
        {
            status = tests.Any(t => t.Result == "FAIL") ? "failed" : "passed",
            package = "hello",
            version,
            architecture = "amd64",
            tests = tests.Select(t => new { name = t.Name, result = t.Result }),
        });

    private async Task CompleteAsync(HttpClient worker, Assignment job)
    {
        using var done = await worker.PostAsJsonAsync($"/api/v1/work-requests/{job.WorkRequestId}/complete", new CompleteRequest(job.LeaseToken, "succeeded", 0, null));
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
    }

    [Fact]
    public async Task Autopkgtest_results_are_compared_with_those_of_the_published_version_and_a_policy_can_fail_on_regressions()
    {
        const string project = "results-regress";
        var with = new Dictionary<string, string> { ["suite"] = "bookworm" };

        // The first upload: nothing is published, so there is no reference and nothing regressed (t3 fails, but always has).
        var (first, w1) = await RunningAsync(project, "debian/autopkgtest", with);
        var failing = await PutAsync(w1, first, Autopkgtest("2.10-2", ("t1", "PASS"), ("t2", "SKIP"), ("t3", "FAIL"), ("t5", "FLAKY")));
        Assert.Equal("autopkgtest reported Status: failed", failing.Message);
        await CompleteAsync(w1, first);
        var firstResult = (await _farm.Admin.GetFromJsonAsync<WorkRequestResult>($"/api/v1/work-requests/{first.WorkRequestId}/result"))!.Result;
        Assert.Empty(firstResult.GetProperty("regressions").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, firstResult.GetProperty("reference").ValueKind);

        // 2.10-2 is what the project's bookworm repository publishes (as the publisher records it).
        const string sha = "ab00000000000000000000000000000000000000000000000000000000000002";
        await _farm.SqlAsync("INSERT INTO blobs (sha256, size, created_at) VALUES (@p0, 1, now()) ON CONFLICT DO NOTHING", sha);
        await _farm.SqlAsync("""
            WITH r AS (INSERT INTO repositories (project_id, suite, format, created_at)
                       SELECT id, 'bookworm', 'apt', now() FROM projects WHERE name = @p0 RETURNING id)
            INSERT INTO repository_packages (repository_id, package, version, architecture, filename, sha256, size, source_package, published_at)
            SELECT id, 'hello', '2.10-2', 'source', 'pool/main/h/hello/hello_2.10-2.dsc', @p1, 1, 'hello', now() FROM r
            """, project, sha);

        // The new upload regresses t1 (pass before) and t2 (skipped before) and adds a failing t4; t3 and t5 improve.
        var (second, w2) = await RunningAsync(project, "debian/autopkgtest", new() { ["suite"] = "bookworm", ["fail-on-regression"] = "true" });
        var verdict = await PutAsync(w2, second, Autopkgtest("2.10-3", ("t1", "FAIL"), ("t2", "FAIL"), ("t3", "PASS"), ("t4", "FAIL"), ("t5", "PASS")));
        Assert.True(verdict.Fail);
        Assert.Equal("autopkgtest reported Status: failed", verdict.Message);
        var stored = (await _farm.Admin.GetFromJsonAsync<WorkRequestResult>($"/api/v1/work-requests/{second.WorkRequestId}/result"))!.Result;
        Assert.Equal(["t1", "t2", "t4"], stored.GetProperty("regressions").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["t3", "t5"], stored.GetProperty("improvements").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(first.WorkRequestId, stored.GetProperty("reference").GetProperty("workRequestId").GetInt64());
        Assert.Equal("2.10-2", stored.GetProperty("reference").GetProperty("version").GetString());

        var workflow = (await _farm.Admin.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{second.WorkflowId}"))!;
        Assert.Equal(["t1", "t2", "t4"], workflow.Regressions!.Select(r => r.Test));
        Assert.All(workflow.Regressions!, r => Assert.Equal(("job", "amd64"), (r.Job, r.Architecture)));
    }

    [Fact]
    public async Task A_regression_fails_a_passing_run_only_with_fail_on_regression()
    {
        const string project = "results-policy";
        var (first, w1) = await RunningAsync(project, "debian/autopkgtest", new() { ["suite"] = "trixie" });
        await PutAsync(w1, first, Autopkgtest("1.0-1", ("smoke", "PASS")));
        await CompleteAsync(w1, first);
        const string sha = "ab00000000000000000000000000000000000000000000000000000000000003";
        await _farm.SqlAsync("INSERT INTO blobs (sha256, size, created_at) VALUES (@p0, 1, now()) ON CONFLICT DO NOTHING", sha);
        await _farm.SqlAsync("""
            WITH r AS (INSERT INTO repositories (project_id, suite, format, created_at)
                       SELECT id, 'trixie', 'apt', now() FROM projects WHERE name = @p0 RETURNING id)
            INSERT INTO repository_packages (repository_id, package, version, architecture, filename, sha256, size, source_package, published_at)
            SELECT id, 'hello', '1.0-1', 'amd64', 'pool/main/h/hello/hello_1.0-1_amd64.deb', @p1, 1, 'hello', now() FROM r
            """, project, sha);

        // A result whose status passes (say the test is marked flaky upstream) but regressed by name.
        var regressed = """{"status":"passed","package":"hello","version":"1.0-2","architecture":"amd64","tests":[{"name":"smoke","result":"FAIL"}]}""";
        var (lenient, w2) = await RunningAsync(project, "debian/autopkgtest", new() { ["suite"] = "trixie" });
        Assert.False((await PutAsync(w2, lenient, regressed)).Fail);
        var (strict, w3) = await RunningAsync(project, "debian/autopkgtest", new() { ["suite"] = "trixie", ["fail-on-regression"] = "true" });
        var verdict = await PutAsync(w3, strict, regressed);
        Assert.True(verdict.Fail);
        Assert.Equal("1 regression: smoke", verdict.Message);
    }
}
