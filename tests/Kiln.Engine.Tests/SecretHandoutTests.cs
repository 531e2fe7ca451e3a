using System.Net;
using System.Net.Http.Json;
using System.Text;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Secrets reach a job only in its claim, only on a worker of a pool its project trusts, and only
/// its own project's: an untrusted worker gets none and a job whose secret is gone or does not open
/// fails that attempt at once (an infrastructure error, retried) saying why — never the value.
/// Pools and trust are set up with SQL. Against a real server.
/// </summary>
public sealed class SecretHandoutTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private static int s_instances;

    /// <summary>xUnit makes an instance per test: each has its own users, projects, pools and queues.</summary>
    private readonly string _p = $"hand{Interlocked.Increment(ref s_instances)}";
    private SecretsFarm _farm = null!;

    public async Task InitializeAsync()
    {
        _farm = await SecretsFarm.CreateAsync(server, _p);
        await _farm.SqlAsync("INSERT INTO worker_pools (name, created_at) VALUES (@a, now())", $"{_p}-trusted");
        await _farm.SqlAsync("INSERT INTO worker_pools (name, created_at) VALUES (@a, now())", $"{_p}-untrusted");
        await _farm.TrustAsync(_farm.ProjectA, $"{_p}-trusted");
        await SetAsync(_farm.Owner, _farm.ProjectA, "UPLOAD_TOKEN", "value-of-A-4711");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_worker_of_a_trusted_pool_gets_the_value_and_one_of_an_untrusted_pool_gets_none()
    {
        using var outsider = await _farm.WorkerInPoolAsync($"{_p}-outsider", $"{_p}-untrusted", $"{_p}-q1");
        using var insider = await _farm.WorkerInPoolAsync($"{_p}-insider", $"{_p}-trusted", $"{_p}-q1");
        // Three attempts: without a pool-aware claim, the outsider's claim costs one (it fails at once, see below).
        var id = await SubmitAsync(_farm.Owner, _farm.ProjectA, $"{_p}-q1", "UPLOAD_TOKEN", attempts: 3);

        var claimedByOutsider = await ClaimAsync(outsider, Guid.NewGuid());
        Assert.DoesNotContain(claimedByOutsider, a => a.WorkRequestId == id || a.Secrets is not null);

        var assignment = Assert.Single(await ClaimAsync(insider, Guid.NewGuid()));
        Assert.Equal(id, assignment.WorkRequestId);
        Assert.Equal("value-of-A-4711", Assert.Single(assignment.Secrets!).Value);
        Assert.Equal("UPLOAD_TOKEN", Assert.Single(assignment.Secrets!).Key);
        // The value is never part of what the work request shows.
        var view = await server.Client.GetStringAsync($"/api/v1/work-requests/{id}");
        Assert.DoesNotContain("value-of-A-4711", view, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_worker_whose_pool_is_no_longer_trusted_gets_no_secret_on_a_repeated_claim_and_the_attempt_fails_saying_so()
    {
        await _farm.SqlAsync("INSERT INTO worker_pools (name, created_at) VALUES (@a, now())", $"{_p}-revoked");
        await _farm.TrustAsync(_farm.ProjectA, $"{_p}-revoked");
        using var worker = await _farm.WorkerInPoolAsync($"{_p}-revoked-worker", $"{_p}-revoked", $"{_p}-q2");
        var id = await SubmitAsync(_farm.Owner, _farm.ProjectA, $"{_p}-q2", "UPLOAD_TOKEN");
        var claimId = Guid.NewGuid();
        Assert.NotNull(Assert.Single(await ClaimAsync(worker, claimId)).Secrets);

        // The answer was lost; meanwhile the project stopped trusting the pool. The repeat hands out nothing.
        await _farm.SqlAsync("DELETE FROM project_trusted_pools WHERE pool_id = (SELECT id FROM worker_pools WHERE name = @a)", $"{_p}-revoked");
        Assert.Empty(await ClaimAsync(worker, claimId));

        var attempt = await OnlyAttemptAsync(id);
        Assert.Equal("error", attempt.Outcome);
        Assert.Contains("not trusted", attempt.Message, StringComparison.Ordinal);
        Assert.Contains(_farm.ProjectA, attempt.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_whose_secret_was_deleted_or_does_not_open_fails_its_attempt_with_a_message_naming_the_secret()
    {
        using var worker = await _farm.WorkerInPoolAsync($"{_p}-keeper", $"{_p}-trusted", $"{_p}-q3");
        await SetAsync(_farm.Owner, _farm.ProjectA, "GONE_SOON", "value-gone-soon");
        var gone = await SubmitAsync(_farm.Owner, _farm.ProjectA, $"{_p}-q3", "GONE_SOON");
        (await _farm.Owner.DeleteAsync($"/api/v1/projects/{_farm.ProjectA}/secrets/GONE_SOON")).EnsureSuccessStatusCode();
        Assert.Empty(await ClaimAsync(worker, Guid.NewGuid()));
        var attempt = await OnlyAttemptAsync(gone);
        Assert.Equal("error", attempt.Outcome);
        Assert.Contains("'GONE_SOON'", attempt.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("value-gone-soon", attempt.Message, StringComparison.Ordinal);

        // Sealed under another key (what a server with the wrong key file sees).
        await SetAsync(_farm.Owner, _farm.ProjectA, "OTHER_KEY", "value-other-key");
        await _farm.SqlAsync("UPDATE project_secrets SET key_id = 'deadbeef' WHERE name = @a", "OTHER_KEY");
        var wrongKey = await SubmitAsync(_farm.Owner, _farm.ProjectA, $"{_p}-q3", "OTHER_KEY");
        Assert.Empty(await ClaimAsync(worker, Guid.NewGuid()));
        attempt = await OnlyAttemptAsync(wrongKey);
        Assert.Equal("error", attempt.Outcome);
        Assert.Contains("'OTHER_KEY'", attempt.Message, StringComparison.Ordinal);
        Assert.Contains("deadbeef", attempt.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_cannot_read_another_projects_secrets_not_by_name_and_not_by_a_copied_ciphertext()
    {
        // A worker both projects trust: B's job gets B's value of the same name, never A's.
        await _farm.TrustAsync(_farm.ProjectB, $"{_p}-trusted");
        using var worker = await _farm.WorkerInPoolAsync($"{_p}-shared", $"{_p}-trusted", $"{_p}-q4");
        await SetAsync(_farm.OtherOwner, _farm.ProjectB, "UPLOAD_TOKEN", "value-of-B-0815");
        var ofB = await SubmitAsync(_farm.OtherOwner, _farm.ProjectB, $"{_p}-q4", "UPLOAD_TOKEN");
        var assignment = Assert.Single(await ClaimAsync(worker, Guid.NewGuid()));
        Assert.Equal(ofB, assignment.WorkRequestId);
        Assert.Equal("value-of-B-0815", assignment.Secrets!["UPLOAD_TOKEN"]);
        (await worker.PostAsJsonAsync($"/api/v1/work-requests/{ofB}/complete", new CompleteRequest(assignment.LeaseToken, "succeeded", 0, null))).EnsureSuccessStatusCode();

        // A's sealed bytes copied onto B's row (someone with database access) do not open for B.
        await _farm.SqlAsync("""
            UPDATE project_secrets b SET sealed = a.sealed, key_id = a.key_id
            FROM project_secrets a
            WHERE a.name = 'UPLOAD_TOKEN' AND b.name = 'UPLOAD_TOKEN'
              AND a.project_id = (SELECT id FROM projects WHERE name = @a) AND b.project_id = (SELECT id FROM projects WHERE name = @c)
            """, _farm.ProjectA, 0, _farm.ProjectB);
        var copied = await SubmitAsync(_farm.OtherOwner, _farm.ProjectB, $"{_p}-q4", "UPLOAD_TOKEN");
        Assert.Empty(await ClaimAsync(worker, Guid.NewGuid()));
        var attempt = await OnlyAttemptAsync(copied);
        Assert.Equal("error", attempt.Outcome);
        Assert.Contains("does not decrypt", attempt.Message, StringComparison.Ordinal);
    }

    private static async Task SetAsync(HttpClient owner, string project, string name, string value)
    {
        using var response = await owner.PutAsync($"/api/v1/projects/{project}/secrets/{name}", new StringContent(value, Encoding.UTF8, "text/plain"));
        response.EnsureSuccessStatusCode();
    }

    /// <summary>One job naming <paramref name="secret"/>, one attempt (or <paramref name="attempts"/>, without backoff); its work request id.</summary>
    private async Task<long> SubmitAsync(HttpClient client, string project, string queue, string secret, int attempts = 1)
    {
        using var response = await client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Project = project,
            Jobs = new() { ["publish"] = new JobDocument { Run = "true", Secrets = [secret], Requires = new() { Queue = queue }, Retry = new() { MaxAttempts = attempts, BackoffSeconds = 0 } } },
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var workflow = (await response.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;
        return Assert.Single((await server.Client.GetFromJsonAsync<WorkflowView>($"/api/v1/workflows/{workflow}"))!.Jobs!).Id;
    }

    private static async Task<IReadOnlyList<Assignment>> ClaimAsync(HttpClient worker, Guid claimId)
    {
        using var response = await worker.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 0, claimId));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments;
    }

    private async Task<AttemptView> OnlyAttemptAsync(long id) =>
        Assert.Single((await server.Client.GetFromJsonAsync<WorkRequestView>($"/api/v1/work-requests/{id}"))!.Attempts);
}
