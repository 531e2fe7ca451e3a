using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Environments over the API against a real server: an admin defines one and Kiln submits its build as
/// a kiln/environment job; when that job succeeds with its tarball, the leader records it as version 1;
/// jobs naming the environment then carry that exact version in their claim, and only a worker may
/// fetch an environment's tarball — and only an environment's, never another blob by its hash.
/// </summary>
public sealed class EnvironmentsApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static int s_names;

    private static string Fresh(string what) => $"{what}{Interlocked.Increment(ref s_names)}";

    [Fact]
    public async Task A_created_environment_is_built_by_a_job_and_its_tarball_becomes_the_version_jobs_get()
    {
        var name = $"test/{Fresh("built")}";
        using var create = await server.Client.PostAsJsonAsync("/api/v1/environments",
            new CreateEnvironmentRequest(name, "bookworm", "amd64", Variant: "essential", Packages: ["eatmydata"]));
        Assert.True(create.StatusCode == HttpStatusCode.Created, await create.Content.ReadAsStringAsync());
        var started = (await create.Content.ReadFromJsonAsync<EnvironmentBuildResponse>())!;
        Assert.Null(started.Environment.Current);
        var workflow = (await server.Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{started.WorkflowId}"))!;
        Assert.Equal("kiln-environments", workflow.Project);

        // The build waits on the environments queue for an amd64 worker.
        using var worker = await server.RegisterWorkerAsync(Fresh("env-builder"), queues: ["environments"]);
        var build = await ClaimOneAsync(worker);
        Assert.Equal("kiln/environment", build.Execution!.Uses);
        Assert.Equal("essential", build.Execution.With!["variant"]);
        Assert.Equal("eatmydata", build.Env["KILN_WITH_PACKAGES"]);
        Assert.Contains("mmdebstrap", build.Run, StringComparison.Ordinal);

        var tarball = Encoding.UTF8.GetBytes($"a root filesystem for {name}");
        var sha = await UploadArtifactAsync(worker, build, "environment.tar.zst", tarball);
        (await worker.PostAsJsonAsync($"/api/v1/work-requests/{build.WorkRequestId}/complete", new CompleteRequest(build.LeaseToken, "succeeded", 0, null))).EnsureSuccessStatusCode();

        // The leader's environment duty records it within a tick or two.
        EnvironmentDetail detail;
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        do
        {
            await Task.Delay(200);
            detail = (await server.Client.GetFromJsonAsync<EnvironmentDetail>($"/api/v1/environments/{name}"))!;
        }
        while (detail.Environment.Current is null && DateTimeOffset.UtcNow < deadline);
        Assert.Equal(1, detail.Environment.Current!.Version);
        Assert.Equal(sha, detail.Environment.Current.Sha256);
        Assert.Equal(build.WorkRequestId, Assert.Single(detail.Versions).WorkRequestId);
        Assert.Null(detail.Environment.BuildingWorkflowId);

        // A job naming it gets exactly that version, and its worker may fetch the tarball by hash.
        var job = await SubmitAsync(new JobDocument { Run = "true", Environment = name, Requires = new() { Queue = "env-jobs" } });
        using var runner = await server.RegisterWorkerAsync(Fresh("env-runner"), queues: ["env-jobs"]);
        var assignment = await ClaimOneAsync(runner);
        Assert.Equal(job, assignment.WorkRequestId);
        Assert.Equal(new EnvironmentRef(name, 1, sha, tarball.Length), assignment.Execution!.Environment);
        Assert.Equal(JobLimits.Default, assignment.Execution.Limits);
        Assert.False(assignment.Execution.Network);
        Assert.Equal(tarball, await runner.GetByteArrayAsync($"/api/v1/environments/blobs/{sha}"));
    }

    [Fact]
    public async Task A_worker_cannot_fetch_a_blob_that_is_not_an_environment_and_a_user_cannot_fetch_one_at_all()
    {
        using var worker = await server.RegisterWorkerAsync(Fresh("blob-worker"), queues: [Fresh("blob-q")]);
        var (name, sha) = await ImportAsync(Encoding.UTF8.GetBytes("imported root"));
        // An artifact's content is a blob too: its hash opens nothing here.
        var artifactSha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("not an environment")));
        using var other = await worker.GetAsync($"/api/v1/environments/blobs/{artifactSha}");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        using var asUser = await server.Client.GetAsync($"/api/v1/environments/blobs/{sha}");
        Assert.Equal(HttpStatusCode.Unauthorized, asUser.StatusCode);
        Assert.Equal(Encoding.UTF8.GetBytes("imported root"), await worker.GetByteArrayAsync($"/api/v1/environments/blobs/{sha}"));
        Assert.NotNull(name);
    }

    [Fact]
    public async Task Importing_the_same_tarball_again_adds_no_version_and_a_new_one_adds_the_next()
    {
        var (name, first) = await ImportAsync(Encoding.UTF8.GetBytes("root v1"));
        var (_, again) = await ImportAsync(Encoding.UTF8.GetBytes("root v1"), name, HttpStatusCode.OK);
        var (_, second) = await ImportAsync(Encoding.UTF8.GetBytes("root v2"), name);
        var detail = (await server.Client.GetFromJsonAsync<EnvironmentDetail>($"/api/v1/environments/{name}"))!;
        Assert.Equal(first, again);
        Assert.Equal([2, 1], detail.Versions.Select(v => v.Version));
        Assert.Equal(second, detail.Environment.Current!.Sha256);
        Assert.Equal("imported", detail.Environment.Builder);

        using var refresh = await server.Client.PostAsync($"/api/v1/environments/{name}/refresh", null);
        Assert.Equal(HttpStatusCode.Conflict, refresh.StatusCode);
        Assert.Contains("kiln env import", await refresh.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_import_of_content_never_uploaded_is_refused_naming_the_hash()
    {
        using var response = await server.Client.PostAsJsonAsync($"/api/v1/environments/test/{Fresh("ghost")}/versions",
            new ImportEnvironmentRequest(new string('b', 64), 10));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("sha256", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"name":"Debian/Bookworm","suite":"bookworm","architecture":"amd64"}""", "name")]
    [InlineData("""{"name":"blobs/x","suite":"bookworm","architecture":"amd64"}""", "name")]
    [InlineData("""{"name":"test/x","suite":"book worm","architecture":"amd64"}""", "suite")]
    [InlineData("""{"name":"test/x","suite":"bookworm","architecture":"amd64","packages":["ok","no spaces"]}""", "packages")]
    [InlineData("""{"name":"test/x","suite":"bookworm","architecture":"amd64","mirror":"ftp://x"}""", "mirror")]
    [InlineData("""{"name":"test/x","suite":"bookworm","architecture":"amd64","refreshHours":0}""", "refreshHours")]
    public async Task A_bad_definition_is_refused_naming_the_field_and_stores_nothing(string body, string field)
    {
        using var response = await server.Client.PostAsync("/api/v1/environments", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(problem.GetProperty("errors").EnumerateArray(), e => e.GetProperty("field").GetString() == field);
        var list = (await server.Client.GetFromJsonAsync<EnvironmentList>("/api/v1/environments"))!;
        Assert.DoesNotContain(list.Items, e => e.Name == "test/x");
    }

    [Fact]
    public async Task Creating_it_again_with_other_settings_is_a_conflict_and_with_the_same_a_repeat()
    {
        var name = $"test/{Fresh("again")}";
        var request = new CreateEnvironmentRequest(name, "bookworm", "amd64", Variant: "minbase");
        using var first = await server.Client.PostAsJsonAsync("/api/v1/environments", request);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        using var repeat = await server.Client.PostAsJsonAsync("/api/v1/environments", request);
        Assert.Equal(HttpStatusCode.OK, repeat.StatusCode);
        // the build already running counts: no second one
        var building = (await first.Content.ReadFromJsonAsync<EnvironmentBuildResponse>())!.WorkflowId;
        Assert.NotNull(building);
        Assert.Equal(building, (await repeat.Content.ReadFromJsonAsync<EnvironmentBuildResponse>())!.WorkflowId);
        using var other = await server.Client.PostAsJsonAsync("/api/v1/environments", request with { Suite = "trixie" });
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        using var refresh = await server.Client.PostAsync($"/api/v1/environments/{name}/refresh", null);
        var answer = (await refresh.Content.ReadFromJsonAsync<EnvironmentBuildResponse>())!;
        Assert.Equal(building, answer.WorkflowId);
    }

    [Fact]
    public async Task A_job_naming_an_environment_without_a_version_is_refused_at_submission()
    {
        using var response = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Project = Fresh("envless"),
            Jobs = new() { ["build"] = new JobDocument { Run = "true", Environment = "test/nowhere" } },
        });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("jobs.build.environment", body, StringComparison.Ordinal);
        Assert.Contains("kiln env create test/nowhere", body, StringComparison.Ordinal);
    }

    private async Task<(string Name, string Sha)> ImportAsync(byte[] content, string? name = null, HttpStatusCode expected = HttpStatusCode.Created)
    {
        name ??= $"test/{Fresh("imported")}";
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var upload = await server.Client.PutAsync($"/api/v1/environments/{name}/upload?sha256={sha}&size={content.Length}&offset=0", body);
        Assert.True(upload.IsSuccessStatusCode, await upload.Content.ReadAsStringAsync());
        using var record = await server.Client.PostAsJsonAsync($"/api/v1/environments/{name}/versions", new ImportEnvironmentRequest(sha, content.Length));
        Assert.True(record.StatusCode == expected, await record.Content.ReadAsStringAsync());
        return (name, sha);
    }

    private async Task<long> SubmitAsync(JobDocument job)
    {
        using var response = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument { Project = Fresh("envjobs"), Jobs = new() { ["job"] = job } });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;
        return Assert.Single((await server.Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{id}"))!.Jobs!).Id;
    }

    private static async Task<Assignment> ClaimOneAsync(HttpClient worker)
    {
        using var response = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 5, Guid.NewGuid()));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return Assert.Single((await response.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments);
    }

    private static async Task<string> UploadArtifactAsync(HttpClient worker, Assignment task, string path, byte[] content)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        (await worker.PostAsJsonAsync($"/api/v1/work-requests/{task.WorkRequestId}/artifacts",
            new ArtifactUploadRequest(task.LeaseToken, path, sha, content.Length))).EnsureSuccessStatusCode();
        using var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/api/v1/work-requests/{task.WorkRequestId}/artifacts/content?sha256={sha}&size={content.Length}&offset=0") { Content = body };
        request.Headers.Add(LeaseHeaders.LeaseToken, task.LeaseToken.ToString());
        (await worker.SendAsync(request)).EnsureSuccessStatusCode();
        (await worker.PostAsJsonAsync($"/api/v1/work-requests/{task.WorkRequestId}/artifacts",
            new ArtifactUploadRequest(task.LeaseToken, path, sha, content.Length))).EnsureSuccessStatusCode();
        return sha;
    }
}
