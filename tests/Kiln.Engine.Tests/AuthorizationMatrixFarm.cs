using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Kiln.Contracts;
using Kiln.Core.Security;
using Kiln.Store.Identity;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>Who calls, in the authorization matrix.</summary>
public enum MatrixCaller
{
    Anonymous,
    Viewer,
    Contributor,
    Maintainer,
    OwnerOfOtherProject,
    WorkerOfOtherPool,
    Registrar,
    RevokedToken,
    ExpiredToken,

    /// <summary>A token of a user an admin disabled.</summary>
    DisabledUser,

    /// <summary>The maintainer's token with only the 'read' scope.</summary>
    ReadOnlyToken,
    Admin,
}

/// <summary>
/// The farm the authorization matrix runs against: a private project P (owned by the admin, who
/// submitted its one workflow, whose one work request ran and left a log and an artifact), its
/// viewer, contributor and maintainer, the owner of another private project, a worker of another
/// pool, a revoked and an expired token. Users, memberships and the pool are made with SQL, the
/// tokens with <see cref="IdentityStore.CreateTokenAsync"/>: nothing depends on the identity API.
/// </summary>
public sealed class AuthorizationMatrixFarm
{
    public const string Project = "matrix-private";
    public const string OtherProject = "matrix-other";
    public const string ArtifactPath = "out/result.txt";

    private readonly ServerFixture _server;
    private readonly Dictionary<MatrixCaller, string?> _tokens = [];
    private int _fresh;

    private AuthorizationMatrixFarm(ServerFixture server) => _server = server;

    public long WorkflowId { get; private set; }

    public long WorkRequestId { get; private set; }

    /// <summary>P's source upload (one file, <see cref="SourceFile"/>) and P's (empty) rebuild.</summary>
    public long SourceUploadId { get; private set; }

    public long RebuildId { get; private set; }

    public const string SourceFile = "matrix_1.0.dsc";

    public string ViewerName => "matrix-viewer";

    /// <summary>The bearer token a caller sends (null: none).</summary>
    public string? TokenOf(MatrixCaller caller) => _tokens[caller];

    public static async Task<AuthorizationMatrixFarm> CreateAsync(ServerFixture server)
    {
        var farm = new AuthorizationMatrixFarm(server);
        await farm.SetUpAsync();
        return farm;
    }

    private async Task SetUpAsync()
    {
        var services = _server.Host.Services;
        var identity = services.GetRequiredService<IdentityStore>();
        var access = services.GetRequiredService<AccessStore>();
        var admin = (await identity.FirstAdminIdAsync(CancellationToken.None))!.Value;
        Assert.NotNull(await access.CreateProjectAsync(Project, admin, isPrivate: true, "", CancellationToken.None));

        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        async Task<long> UserAsync(string name) => (long)(await Scalar(db, "INSERT INTO users (name, created_at) VALUES (@a, now()) RETURNING id", name))!;
        var viewer = await UserAsync(ViewerName);
        var contributor = await UserAsync("matrix-contributor");
        var maintainer = await UserAsync("matrix-maintainer");
        var otherOwner = await UserAsync("matrix-other-owner");
        foreach (var (user, role) in new[] { (viewer, "viewer"), (contributor, "contributor"), (maintainer, "maintainer") })
        {
            await Scalar(db, "INSERT INTO project_members (project_id, user_id, role, added_at) SELECT id, @b, @a, now() FROM projects WHERE name = @c", role, user, Project);
        }
        Assert.NotNull(await access.CreateProjectAsync(OtherProject, otherOwner, isPrivate: true, "", CancellationToken.None));

        // Every scope on every token: a non-admin's 'admin' scope must still not make it an admin.
        async Task<(long Id, string Token)> TokenAsync(long user) => await identity.CreateTokenAsync(user, "matrix", Scopes.All, null, CancellationToken.None);
        _tokens[MatrixCaller.Anonymous] = null;
        _tokens[MatrixCaller.Admin] = _server.AdminToken;
        _tokens[MatrixCaller.Viewer] = (await TokenAsync(viewer)).Token;
        _tokens[MatrixCaller.Contributor] = (await TokenAsync(contributor)).Token;
        _tokens[MatrixCaller.Maintainer] = (await TokenAsync(maintainer)).Token;
        _tokens[MatrixCaller.OwnerOfOtherProject] = (await TokenAsync(otherOwner)).Token;
        var (revokedId, revoked) = await TokenAsync(maintainer);
        await Scalar(db, "UPDATE api_tokens SET revoked_at = now() WHERE id = @b", "", revokedId);
        _tokens[MatrixCaller.RevokedToken] = revoked;
        var (expiredId, expired) = await TokenAsync(maintainer);
        await Scalar(db, "UPDATE api_tokens SET expires_at = now() - interval '1 day' WHERE id = @b", "", expiredId);
        _tokens[MatrixCaller.ExpiredToken] = expired;
        _tokens[MatrixCaller.Registrar] = _server.Host.WorkerToken;
        _tokens[MatrixCaller.ReadOnlyToken] = (await identity.CreateTokenAsync(maintainer, "matrix read-only", Scopes.Read, null, CancellationToken.None)).Token;
        var disabled = await UserAsync("matrix-disabled");
        await Scalar(db, "INSERT INTO project_members (project_id, user_id, role, added_at) SELECT id, @b, 'maintainer', now() FROM projects WHERE name = @c", "", disabled, Project);
        _tokens[MatrixCaller.DisabledUser] = (await TokenAsync(disabled)).Token;
        await Scalar(db, "UPDATE users SET disabled_at = now() WHERE id = @b", "", disabled);

        // The other project's own runners: a pool that serves that project only.
        await Scalar(db, "INSERT INTO worker_pools (name, project_ids, created_at) VALUES (@a, ARRAY(SELECT id FROM projects WHERE name = @c), now())", "matrix-pool", 0, OtherProject);
        _tokens[MatrixCaller.WorkerOfOtherPool] = await WorkerSecretAsync("matrix-outsider", "matrix-nothing");
        await Scalar(db, "UPDATE workers SET pool_id = (SELECT id FROM worker_pools WHERE name = @a) WHERE name = @c", "matrix-pool", 0, "matrix-outsider");

        // P's repository (never published): what /api/v1/projects/{name}/repositories/{suite} names.
        await Scalar(db, "INSERT INTO repositories (project_id, suite, format, created_at) SELECT id, @a, 'apt', now() FROM projects WHERE name = @c", "bookworm", 0, Project);

        await RunOneJobAsync();

        // The artifact's blob doubles as the file of P's source upload.
        SourceUploadId = (long)(await Scalar(db, """
            WITH u AS (INSERT INTO source_uploads (project_id, format, package, version, created_at) SELECT id, 'dsc', 'matrix', '1.0', now() FROM projects WHERE name = @c RETURNING id)
            INSERT INTO source_upload_files (upload_id, name, sha256, size) SELECT u.id, @a, a.sha256, a.size FROM u, artifacts a WHERE a.work_request_id = @b RETURNING upload_id
            """, SourceFile, WorkRequestId, Project))!;
        RebuildId = (long)(await Scalar(db, "INSERT INTO rebuilds (project_id, suite, created_at) SELECT id, 'bookworm', now() FROM projects WHERE name = @c RETURNING id", "", 0, Project))!;

        // A held workflow of P (what GET /api/v1/held?project=P shows P's viewer); the matrix's
        // approve and discard rows name a rule it does not have, so they leave it held.
        var (held, _) = services.GetRequiredService<Kiln.Core.WorkflowPlanner>().Plan(new WorkflowDocument
        {
            Project = Project,
            Jobs = new() { ["held"] = new() { Run = "true", Requires = new() { Queue = "matrix-nobody" } } },
        });
        await services.GetRequiredService<Kiln.Store.Engine.SubmissionStore>().SubmitAsync(held!, "{}", CancellationToken.None,
            origin: new Kiln.Store.Engine.WorkflowOrigin(Hold: Kiln.Core.WorkflowState.Held));

        await MatrixRuleAsync();
    }

    /// <summary>P's trigger rule <c>matrix-rule</c> (manual; its workflow waits for a queue nobody serves): rows that run, pause or resume it reach past the access decision.</summary>
    public const string Rule = "matrix-rule";

    private async Task MatrixRuleAsync()
    {
        using var set = await _server.Client.PutAsJsonAsync($"/api/v1/projects/{Project}/triggers/", new TriggerSetRequest
        {
            Text = "rules: []\n",
            Rules = [new TriggerRuleDocument { Name = Rule, Source = "manual", Workflow = "w.yaml" }],
            Workflows = new() { ["w.yaml"] = new WorkflowDocument { Jobs = new() { ["a"] = new JobDocument { Run = "true", Requires = new JobRequirements { Queue = "matrix-nobody" } } } } },
        });
        Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync());
    }

    /// <summary>A rejected (security) event, which only admins may read.</summary>
    public async Task<string> RejectedEventAsync()
    {
        var events = _server.Host.Services.GetRequiredService<Kiln.Store.Events.EventStore>();
        var stored = await events.InsertAsync(new Kiln.Store.Events.NewEvent(
            EventSources.GitHub, null, EventTypes.Push, EventStates.Rejected, new EventFacts(), new Dictionary<string, string>(), null, [], "127.0.0.1",
            [new EventEffect(EventEffectKinds.Rejected, "bad signature")]), CancellationToken.None);
        return stored.EventId.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>P's workflow, submitted by the admin: its work request runs on a worker of the default pool, logs, uploads an artifact and succeeds.</summary>
    private async Task RunOneJobAsync()
    {
        using var submitted = await _server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Project = Project,
            Jobs = new() { ["build"] = new JobDocument { Run = "true", Requires = new() { Queue = "matrix-p-builds" } } },
        });
        submitted.EnsureSuccessStatusCode();
        WorkflowId = (await submitted.Content.ReadFromJsonAsync<SubmitWorkflowResponse>())!.Id;

        using var runner = _server.AnonymousClient();
        runner.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await WorkerSecretAsync("matrix-runner", "matrix-p-builds"));
        using var claimed = await runner.PostAsJsonAsync("/api/v1/workers/claim", new ClaimRequest(1, 10));
        claimed.EnsureSuccessStatusCode();
        var assignment = Assert.Single((await claimed.Content.ReadFromJsonAsync<ClaimResponse>())!.Assignments);
        WorkRequestId = assignment.WorkRequestId;
        var lease = assignment.LeaseToken.ToString();

        var content = "built\n"u8.ToArray();
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        using (var log = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/work-requests/{WorkRequestId}/log?attempt={assignment.Attempt}&offset=0") { Content = new ByteArrayContent(content) })
        {
            log.Headers.Add("Kiln-Lease-Token", lease);
            (await runner.SendAsync(log)).EnsureSuccessStatusCode();
        }
        using (var upload = new HttpRequestMessage(HttpMethod.Put, $"/api/v1/work-requests/{WorkRequestId}/artifacts/content?sha256={sha}&size={content.Length}&offset=0") { Content = new ByteArrayContent(content) })
        {
            upload.Headers.Add("Kiln-Lease-Token", lease);
            (await runner.SendAsync(upload)).EnsureSuccessStatusCode();
        }
        using var declared = await runner.PostAsJsonAsync($"/api/v1/work-requests/{WorkRequestId}/artifacts", new ArtifactUploadRequest(assignment.LeaseToken, ArtifactPath, sha, content.Length));
        Assert.True((await declared.Content.ReadFromJsonAsync<ArtifactUploadResponse>())!.Complete);
        // A structured result, so reading it is a success for whoever may see the project.
        using var result = await runner.PutAsJsonAsync($"/api/v1/work-requests/{WorkRequestId}/result",
            new ResultUpload(assignment.LeaseToken, System.Text.Json.JsonDocument.Parse("""{"status":"successful"}""").RootElement));
        result.EnsureSuccessStatusCode();
        using var completed = await runner.PostAsJsonAsync($"/api/v1/work-requests/{WorkRequestId}/complete", new CompleteRequest(assignment.LeaseToken, "succeeded", 0, null));
        completed.EnsureSuccessStatusCode();
    }

    /// <summary>A new worker (default pool) serving <paramref name="queue"/>; its secret.</summary>
    public async Task<string> WorkerSecretAsync(string name, string queue = "matrix-nothing")
    {
        using var registrar = _server.AnonymousClient();
        registrar.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _server.Host.WorkerToken);
        using var response = await registrar.PostAsJsonAsync("/api/v1/workers/register", new RegisterWorkerRequest(name, ["amd64"], [], [queue], 1));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<RegisterWorkerResponse>())!.Secret;
    }

    /// <summary>A name no row has used yet (fresh workers, notices, registrations).</summary>
    public string FreshName(string what) => $"matrix-{what}-{Interlocked.Increment(ref _fresh)}";

    /// <summary>A fresh worker, for operations that change or remove the one they name.</summary>
    public async Task<string> FreshWorkerAsync()
    {
        var name = FreshName("target");
        await WorkerSecretAsync(name);
        return name;
    }

    /// <summary>A fresh repository link of P, for operations that remove or reconcile the one they name.</summary>
    public async Task<string> FreshLinkAsync()
    {
        using var linked = await _server.Client.PostAsJsonAsync($"/api/v1/projects/{Project}/links",
            new LinkRepositoryRequest("github", $"matrix/{FreshName("repo")}", "matrix-link-secret-value"));
        linked.EnsureSuccessStatusCode();
        return (await linked.Content.ReadFromJsonAsync<RepositoryLinkView>())!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A fresh webhook of P, for operations that change or remove the one they name (stored directly: the matrix makes more than a project's cap of 20).</summary>
    public async Task<string> FreshWebhookAsync()
    {
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            INSERT INTO webhook_subscriptions (project_id, url, secret_sealed, secret_key_id, events, created_at)
            SELECT id, 'http://127.0.0.1:9/matrix', '\x00'::bytea, 'matrix', ARRAY['workflow'], now() FROM projects WHERE name = @project
            RETURNING id
            """, db);
        cmd.Parameters.AddWithValue("project", Project);
        return ((long)(await cmd.ExecuteScalarAsync())!).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A delivery of a fresh webhook of P (with its stored body), for redelivery.</summary>
    public async Task<string> FreshWebhookDeliveryAsync()
    {
        var hook = long.Parse(await FreshWebhookAsync(), System.Globalization.CultureInfo.InvariantCulture);
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            WITH t AS (
                INSERT INTO status_targets (channel, kind, workflow_id, subscription_id, acknowledged, next_attempt_at, done, created_at)
                VALUES ('hook:' || @hook, 'hook-workflow', @workflow, @hook, 'succeeded', now(), true, now()) RETURNING id
            )
            INSERT INTO status_deliveries (target_id, message_id, state, event_type, method, url, body, status_code, attempted_at)
            SELECT id, 'msg_matrix', 'succeeded', 'workflow.updated', 'POST', 'http://127.0.0.1:9/matrix', '\x7b7d'::bytea, 200, now() FROM t
            RETURNING id
            """, db);
        cmd.Parameters.AddWithValue("hook", hook);
        cmd.Parameters.AddWithValue("workflow", WorkflowId);
        return ((long)(await cmd.ExecuteScalarAsync())!).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A fresh user, for operations that disable or enable the one they name.</summary>
    public async Task<string> FreshUserAsync()
    {
        var name = FreshName("user");
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        await Scalar(db, "INSERT INTO users (name, created_at) VALUES (@a, now())", name);
        return name;
    }

    /// <summary>A fresh viewer of P, for operations that change or remove the member they name.</summary>
    public async Task<string> FreshMemberAsync()
    {
        var name = await FreshUserAsync();
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        await Scalar(db, """
            INSERT INTO project_members (project_id, user_id, role, added_at)
            SELECT p.id, u.id, 'viewer', now() FROM projects p, users u WHERE p.name = @c AND u.name = @a
            """, name, 0, Project);
        return name;
    }

    /// <summary>A fresh worker pool, for operations that change or delete the one they name.</summary>
    public async Task<string> FreshPoolAsync()
    {
        var name = FreshName("pool");
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        await Scalar(db, "INSERT INTO worker_pools (name, created_at) VALUES (@a, now())", name);
        return name;
    }

    /// <summary>The tarball of <c>matrix/env</c> (its blob row only: fetching it answers 410, past the access decision).</summary>
    public static readonly string MatrixEnvironmentSha = new('e', 64);

    /// <summary>The imported environment <c>matrix/env</c> (its name half), made once: reads of it are then allowed, not 404.</summary>
    public async Task<string> MatrixEnvironmentAsync()
    {
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        var sha = MatrixEnvironmentSha;
        await Scalar(db, "INSERT INTO blobs (sha256, size, created_at) VALUES (@a, 1, now()) ON CONFLICT DO NOTHING", sha);
        await Scalar(db, """
            WITH e AS (INSERT INTO environments (name, builder, created_at) VALUES ('matrix/env', 'imported', now())
                       ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id)
            INSERT INTO environment_versions (environment_id, version, sha256, size, created_at) SELECT id, 1, @a, 1, now() FROM e
            ON CONFLICT DO NOTHING
            """, sha);
        return "env";
    }

    /// <summary>A fresh registration token of the default pool (its id), for operations that revoke the one they name.</summary>
    public async Task<string> FreshRegistrationTokenAsync()
    {
        await using var db = new NpgsqlConnection(_server.ConnectionString);
        await db.OpenAsync();
        var token = Kiln.Core.Security.TokenFormat.New(Kiln.Core.Security.TokenKind.Registration);
        await using var cmd = new NpgsqlCommand("""
            INSERT INTO registration_tokens (hash, prefix, pool_id, created_at)
            VALUES (@h, @p, (SELECT id FROM worker_pools WHERE name = 'default'), now()) RETURNING id
            """, db);
        cmd.Parameters.AddWithValue("h", Kiln.Core.Security.TokenFormat.Hash(token));
        cmd.Parameters.AddWithValue("p", Kiln.Core.Security.TokenFormat.DisplayPrefix(token));
        return ((long)(await cmd.ExecuteScalarAsync())!).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A fresh API token of the admin (its id), for operations that revoke the one they name.</summary>
    public async Task<string> FreshApiTokenAsync()
    {
        var identity = _server.Host.Services.GetRequiredService<Kiln.Store.Identity.IdentityStore>();
        var admin = (await identity.FirstAdminIdAsync(CancellationToken.None))!.Value;
        var (id, _) = await identity.CreateTokenAsync(admin, "matrix target", Scopes.Read, null, CancellationToken.None);
        return id.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A fresh notice, for operations that clear the one they name.</summary>
    public async Task<string> FreshNoticeAsync()
    {
        using var posted = await _server.Client.PostAsJsonAsync("/api/v1/notices", new { severity = "info", text = FreshName("notice") });
        posted.EnsureSuccessStatusCode();
        return (await posted.Content.ReadFromJsonAsync<NoticeView>())!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<object?> Scalar(NpgsqlConnection db, string sql, string a, long b = 0, string c = "")
    {
        await using var cmd = new NpgsqlCommand(sql, db);
        cmd.Parameters.AddWithValue("a", a);
        cmd.Parameters.AddWithValue("b", b);
        cmd.Parameters.AddWithValue("c", c);
        return await cmd.ExecuteScalarAsync();
    }
}
