using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>What the pool tests do through the real API: make pools, tokens, projects and work, register and claim.</summary>
internal sealed class PoolSetup(ServerFixture server)
{
    public HttpClient Admin => server.Client;

    public async Task<PoolView> PoolAsync(PoolRequest pool)
    {
        using var response = await Admin.PostAsJsonAsync("/api/v1/pools/", pool);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<PoolView>())!;
    }

    public async Task<CreatedRegistrationToken> TokenAsync(string pool, int? days = null)
    {
        using var response = await Admin.PostAsJsonAsync($"/api/v1/pools/{pool}/registration-tokens", new CreateRegistrationTokenRequest("test", days));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<CreatedRegistrationToken>())!;
    }

    public async Task<HttpResponseMessage> RegisterAsync(string token, string name, params string[] queues)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workers/register")
        {
            Content = JsonContent.Create(new RegisterWorkerRequest(name, ["amd64"], [], queues, 4)),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await server.AnonymousClient().SendAsync(request);
    }

    /// <summary>Registers into the token's pool and returns a client signed in as the worker.</summary>
    public async Task<(HttpClient Client, RegisterWorkerResponse Registration)> WorkerAsync(string token, string name, params string[] queues)
    {
        using var response = await RegisterAsync(token, name, queues);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var registered = (await response.Content.ReadFromJsonAsync<RegisterWorkerResponse>())!;
        var client = server.AnonymousClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", registered.Secret);
        return (client, registered);
    }

    public async Task ProjectAsync(string name, bool isPrivate = false)
    {
        using var response = await Admin.PutAsJsonAsync($"/api/v1/projects/{name}", new ProjectSettings(1, 0, null));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        if (isPrivate)
        {
            await SqlAsync("UPDATE projects SET visibility = 'private' WHERE name = @p0", name);
        }
    }

    /// <summary>Submits <paramref name="jobs"/> jobs of <paramref name="project"/> on <paramref name="queue"/>; returns their work request ids.</summary>
    public async Task<long[]> SubmitAsync(string project, string queue, int jobs, params string[] secrets)
    {
        using var response = await Admin.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Project = project,
            Jobs = Enumerable.Range(0, jobs).ToDictionary(i => $"j{i}", _ => new JobDocument { Run = "true", Requires = new() { Queue = queue } }),
        });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var workflow = (await response.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;
        var ids = (await Admin.GetFromJsonAsync<Page<WorkRequestSummary>>($"/api/v1/work-requests/?workflow={workflow}&limit=500"))!.Items.Select(w => w.Id).ToArray();
        if (secrets.Length > 0)
        {
            // What a workflow file's 'secrets:' becomes; set here so the claim rule is tested on its own.
            await SqlAsync("UPDATE work_requests SET secrets = @p0 WHERE workflow_id = @p1", secrets, workflow);
        }
        return ids;
    }

    /// <summary>Claims until the worker is handed nothing more; returns every work request it got.</summary>
    public static async Task<List<Assignment>> DrainAsync(HttpClient worker)
    {
        var all = new List<Assignment>();
        while (true)
        {
            var claim = await ClaimAsync(worker, 4);
            if (claim.Assignments.Count == 0)
            {
                return all;
            }
            all.AddRange(claim.Assignments);
        }
    }

    public static async Task<ClaimResponse> ClaimAsync(HttpClient worker, int slots = 1)
    {
        using var response = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(slots, 0));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<ClaimResponse>())!;
    }

    public async Task<object?> SqlAsync(string sql, params object[] values)
    {
        await using var conn = new NpgsqlConnection(server.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        for (var i = 0; i < values.Length; i++)
        {
            cmd.Parameters.AddWithValue($"p{i}", values[i]);
        }
        return await cmd.ExecuteScalarAsync();
    }

    public static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, params string[] says)
    {
        Assert.Equal(status, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var detail = problem.RootElement.TryGetProperty("detail", out var d) ? d.GetString()! : problem.RootElement.ToString();
        foreach (var s in says)
        {
            Assert.Contains(s, detail, StringComparison.Ordinal);
        }
    }
}
