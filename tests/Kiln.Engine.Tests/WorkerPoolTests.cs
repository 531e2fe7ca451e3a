using System.Net;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>
/// Claims follow the worker's pool: its queues and projects, private projects when the pool
/// excludes them, and secrets only for pools the project trusts; new workers of a pool that
/// requires approval wait for it. Against a real server, with work pending for every side.
/// </summary>
public sealed class WorkerPoolTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private readonly PoolSetup _farm = new(server);

    [Fact]
    public async Task A_pool_worker_is_only_ever_handed_its_pools_queue_and_projects_and_the_default_pool_takes_the_rest()
    {
        await _farm.ProjectAsync("alpha");
        await _farm.ProjectAsync("beta");
        await _farm.PoolAsync(new PoolRequest("alpha-builders", "alpha's own machines", ["pa-builds"], ["alpha"]));
        var token = await _farm.TokenAsync("alpha-builders");
        var mine = await _farm.SubmitAsync("alpha", "pa-builds", 6);
        var otherProject = await _farm.SubmitAsync("beta", "pa-builds", 6);
        var otherQueue = await _farm.SubmitAsync("alpha", "pa-ops", 6);

        // The worker offers both queues; its pool serves one of them, for one project.
        var (worker, registration) = await _farm.WorkerAsync(token.Secret, "alpha-1", "pa-builds", "pa-ops");
        Assert.Equal("alpha-builders", registration.Pool);
        var taken = await PoolSetup.DrainAsync(worker);
        Assert.Equal(mine.Order(), taken.Select(a => a.WorkRequestId).Order());

        using var everyone = await server.RegisterWorkerAsync("default-1", queues: ["pa-builds", "pa-ops"], slots: 4);
        var rest = await PoolSetup.DrainAsync(everyone);
        Assert.Equal(otherProject.Concat(otherQueue).Order(), rest.Select(a => a.WorkRequestId).Order());

        var listed = (await _farm.Admin.GetFromJsonAsync<Page<WorkerView>>("/api/v1/workers/"))!.Items;
        Assert.Equal("alpha-builders", listed.Single(w => w.Name == "alpha-1").Pool);
        Assert.Equal("default", listed.Single(w => w.Name == "default-1").Pool);
    }

    [Fact]
    public async Task A_pool_that_excludes_private_projects_never_gets_their_jobs_nor_sees_them()
    {
        await _farm.ProjectAsync("hidden", isPrivate: true);
        await _farm.ProjectAsync("shown");
        await _farm.PoolAsync(new PoolRequest("public-only", null, ["px"], null, ExcludePrivate: true));
        var token = await _farm.TokenAsync("public-only");
        var secretWork = await _farm.SubmitAsync("hidden", "px", 5);
        var openWork = await _farm.SubmitAsync("shown", "px", 5);

        var (worker, _) = await _farm.WorkerAsync(token.Secret, "community-1", "px");
        var taken = await PoolSetup.DrainAsync(worker);
        Assert.Equal(openWork.Order(), taken.Select(a => a.WorkRequestId).Order());
        // It may not read the private project's work either: as if it did not exist.
        using var peek = await worker.GetAsync($"/api/v1/work-requests/{secretWork[0]}");
        Assert.Equal(HttpStatusCode.NotFound, peek.StatusCode);

        // The default pool serves private projects (and its workers may read them).
        using var trusted = await server.RegisterWorkerAsync("farm-1", queues: ["px"], slots: 4);
        Assert.Equal(secretWork.Order(), (await PoolSetup.DrainAsync(trusted)).Select(a => a.WorkRequestId).Order());
        using var read = await trusted.GetAsync($"/api/v1/work-requests/{secretWork[0]}");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    [Fact]
    public async Task A_job_that_names_secrets_goes_only_to_a_pool_its_project_trusts()
    {
        await _farm.ProjectAsync("vault");
        // The secret the jobs name exists: a trusted worker is handed it with the work.
        using (var secret = await _farm.Admin.PutAsync("/api/v1/projects/vault/secrets/SIGNING_KEY", new StringContent("a-signing-key", System.Text.Encoding.UTF8, "text/plain")))
        {
            Assert.True(secret.IsSuccessStatusCode, await secret.Content.ReadAsStringAsync());
        }
        await _farm.PoolAsync(new PoolRequest("signers", null, ["sx"]));
        await _farm.PoolAsync(new PoolRequest("untrusted", null, ["sx"]));
        var withSecrets = await _farm.SubmitAsync("vault", "sx", 3, "SIGNING_KEY");
        var plain = await _farm.SubmitAsync("vault", "sx", 3);

        var (stranger, _) = await _farm.WorkerAsync((await _farm.TokenAsync("untrusted")).Secret, "stranger-1", "sx");
        Assert.Equal(plain.Order(), (await PoolSetup.DrainAsync(stranger)).Select(a => a.WorkRequestId).Order());
        var (signer, _) = await _farm.WorkerAsync((await _farm.TokenAsync("signers")).Secret, "signer-1", "sx");
        Assert.Empty(await PoolSetup.DrainAsync(signer));

        using var trust = await _farm.Admin.PutAsync("/api/v1/projects/vault/trusted-pools/signers", null);
        Assert.Equal(HttpStatusCode.OK, trust.StatusCode);
        var project = (await _farm.Admin.GetFromJsonAsync<ProjectView>("/api/v1/projects/vault"))!;
        Assert.Equal(["signers"], project.TrustedPools);
        Assert.Empty(await PoolSetup.DrainAsync(stranger));
        Assert.Equal(withSecrets.Order(), (await PoolSetup.DrainAsync(signer)).Select(a => a.WorkRequestId).Order());
        Assert.Equal(1L, await _farm.SqlAsync("SELECT count(*) FROM audit_log WHERE action = 'project.trust' AND target = 'project:vault'"));
    }

    [Fact]
    public async Task A_new_worker_of_a_pool_that_requires_approval_is_handed_nothing_until_an_admin_approves_it()
    {
        await _farm.PoolAsync(new PoolRequest("gated", null, ["gx"], ApprovalRequired: true));
        var token = await _farm.TokenAsync("gated");
        var work = await _farm.SubmitAsync("gate-project", "gx", 1);
        var (worker, registration) = await _farm.WorkerAsync(token.Secret, "newcomer", "gx");
        Assert.True(registration.PendingApproval);

        var waiting = await PoolSetup.ClaimAsync(worker);
        Assert.True(waiting.PendingApproval);
        Assert.Empty(waiting.Assignments);
        var listed = (await _farm.Admin.GetFromJsonAsync<Page<WorkerView>>("/api/v1/workers/"))!.Items.Single(w => w.Name == "newcomer");
        Assert.Equal("gated", listed.Pool);
        Assert.Null(listed.ApprovedAt);

        // Only an admin approves: the worker itself cannot.
        using var self = await worker.PostAsync("/api/v1/workers/newcomer/approve", null);
        Assert.Equal(HttpStatusCode.Forbidden, self.StatusCode);
        using var approve = await _farm.Admin.PostAsync("/api/v1/workers/newcomer/approve", null);
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);

        var claimed = await PoolSetup.ClaimAsync(worker);
        Assert.False(claimed.PendingApproval);
        Assert.Equal(work[0], Assert.Single(claimed.Assignments).WorkRequestId);
        // Restarting keeps the approval.
        var (again, reregistered) = await _farm.WorkerAsync(token.Secret, "newcomer", "gx");
        Assert.False(reregistered.PendingApproval);
        again.Dispose();
        Assert.Equal(1L, await _farm.SqlAsync("SELECT count(*) FROM audit_log WHERE action = 'worker.approve' AND target = 'worker:newcomer'"));
        Assert.Equal(2L, await _farm.SqlAsync("SELECT count(*) FROM audit_log WHERE action = 'worker.enrol' AND actor_kind = 'worker' AND actor_name = 'newcomer' AND address IS NOT NULL"));
    }

    [Fact]
    public async Task Narrowing_a_pool_applies_to_its_workers_next_claim()
    {
        await _farm.ProjectAsync("gamma");
        await _farm.ProjectAsync("delta");
        await _farm.PoolAsync(new PoolRequest("narrowing", null, ["nx"]));
        var (worker, _) = await _farm.WorkerAsync((await _farm.TokenAsync("narrowing")).Secret, "narrow-1", "nx");
        var gamma = await _farm.SubmitAsync("gamma", "nx", 2);
        await _farm.SubmitAsync("delta", "nx", 2);

        using var narrow = await _farm.Admin.PatchAsJsonAsync("/api/v1/pools/narrowing", new PoolRequest(Projects: ["gamma"]));
        Assert.Equal(HttpStatusCode.OK, narrow.StatusCode);
        Assert.Equal(["gamma"], (await narrow.Content.ReadFromJsonAsync<PoolView>())!.Projects);
        Assert.Equal(gamma.Order(), (await PoolSetup.DrainAsync(worker)).Select(a => a.WorkRequestId).Order());
    }

    [Fact]
    public async Task Pool_requests_with_bad_fields_are_refused_naming_the_field_and_only_admins_manage_pools()
    {
        using var unknown = await _farm.Admin.PostAsJsonAsync("/api/v1/pools/", new PoolRequest("p-bad", null, null, ["no-such-project"]));
        await PoolSetup.AssertProblemAsync(unknown, HttpStatusCode.BadRequest);
        Assert.Contains("projects", await unknown.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var badName = await _farm.Admin.PostAsJsonAsync("/api/v1/pools/", new PoolRequest("bad name!"));
        Assert.Equal(HttpStatusCode.BadRequest, badName.StatusCode);
        await _farm.PoolAsync(new PoolRequest("p-twice"));
        using var twice = await _farm.Admin.PostAsJsonAsync("/api/v1/pools/", new PoolRequest("p-twice"));
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        using var deleteDefault = await _farm.Admin.DeleteAsync("/api/v1/pools/default");
        Assert.Equal(HttpStatusCode.Conflict, deleteDefault.StatusCode);
        using var anonymous = await server.AnonymousClient().GetAsync("/api/v1/pools/");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var delete = await _farm.Admin.DeleteAsync("/api/v1/pools/p-twice");
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
    }
}
