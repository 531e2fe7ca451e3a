using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Core.Security;
using Kiln.Store.Identity;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>Users, API tokens, project members and the audit log through the HTTP API, against a real server and database.</summary>
[Collection(nameof(IdentityApiTests))]
public sealed class IdentityApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task A_created_token_is_shown_once_and_the_database_dump_holds_only_its_sha256()
    {
        var created = await CreateTokenAsync(server.Client, new CreateTokenRequest("dump test"));
        Assert.StartsWith("kiln_pat_", created.Token, StringComparison.Ordinal);
        Assert.Equal(TokenFormat.DisplayPrefix(created.Token), created.View.Prefix);

        var dump = await PgDumpAsync();
        var hash = Convert.ToHexStringLower(TokenFormat.Hash(created.Token));
        Assert.Contains(hash, dump, StringComparison.Ordinal);
        Assert.DoesNotContain(created.Token, dump, StringComparison.Ordinal);
        Assert.DoesNotContain(created.Token[created.View.Prefix.Length..], dump, StringComparison.Ordinal);

        // Lists never carry it either.
        var listed = await server.Client.GetStringAsync("/api/v1/tokens/");
        Assert.DoesNotContain(created.Token, listed, StringComparison.Ordinal);
        Assert.Contains(created.View.Prefix, listed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_project_made_by_a_first_submission_is_in_the_audit_log_with_its_submitter_as_owner()
    {
        using (var submitted = await server.Client.PostAsJsonAsync("/api/v1/workflows", new WorkflowDocument
        {
            Project = "made-by-submit",
            Jobs = new() { ["a"] = new JobDocument { Run = "true", Requires = new() { Queue = "nobody-serves-this" } } },
        }))
        {
            Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
        }
        var entry = Assert.Single((await server.Client.GetFromJsonAsync<Page<AuditEntryView>>(
            "/api/v1/audit?action=project.create&target=project:made-by-submit", KilnClient.Json))!.Items);
        Assert.Equal(("user", "admin"), (entry.ActorKind, entry.Actor));
        var members = (await server.Client.GetFromJsonAsync<List<MemberView>>("/api/v1/projects/made-by-submit/members", KilnClient.Json))!;
        Assert.Equal(("admin", "owner"), (members.Single().User, members.Single().Role));
    }

    [Fact]
    public async Task A_revoked_token_is_refused_on_the_next_request()
    {
        var created = await CreateTokenAsync(server.Client, new CreateTokenRequest("to revoke"));
        using var client = ClientWith(created.Token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/whoami")).StatusCode);

        using var revoke = await client.DeleteAsync($"/api/v1/tokens/{created.View.Id}");
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);

        using var next = await client.GetAsync("/api/v1/whoami");
        Assert.Equal(HttpStatusCode.Unauthorized, next.StatusCode);
        Assert.Contains("revoked", await next.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var view = (await server.Client.GetFromJsonAsync<Page<TokenView>>("/api/v1/tokens/?limit=500", KilnClient.Json))!.Items.Single(t => t.Id == created.View.Id);
        Assert.NotNull(view.RevokedAt);
    }

    [Fact]
    public async Task An_expired_token_is_refused_and_an_expiry_in_the_past_is_not_accepted()
    {
        var identity = server.Host.Services.GetRequiredService<IdentityStore>();
        var admin = (await identity.UserIdAsync("admin", default))!.Value;
        var (_, expired) = await identity.CreateTokenAsync(admin, "expired", Scopes.Read, DateTimeOffset.UtcNow.AddSeconds(-1), default);
        using var client = ClientWith(expired);
        using var refused = await client.GetAsync("/api/v1/whoami");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("expired", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await AssertInvalidAsync(await server.Client.PostAsJsonAsync("/api/v1/tokens/", new CreateTokenRequest("x", ExpiresAt: DateTimeOffset.UtcNow.AddMinutes(-1))), "expiresAt");
        await AssertInvalidAsync(await server.Client.PostAsJsonAsync("/api/v1/tokens/", new CreateTokenRequest("x", ExpiresInDays: 367)), "expiresInDays");
        var ok = await CreateTokenAsync(server.Client, new CreateTokenRequest("30 days", ExpiresInDays: 30));
        Assert.True(ok.View.ExpiresAt > DateTimeOffset.UtcNow.AddDays(29));
    }

    [Fact]
    public async Task A_disabled_users_tokens_are_refused_until_it_is_enabled_again()
    {
        using var carol = await AddUserAsync("carol");
        Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync("/api/v1/whoami")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/users/carol/disable", null)).StatusCode);
        using var refused = await carol.GetAsync("/api/v1/whoami");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("disabled", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/users/carol/enable", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync("/api/v1/whoami")).StatusCode);
    }

    [Fact]
    public async Task A_token_makes_tokens_only_within_its_own_scopes_and_admin_only_for_an_admin()
    {
        var readOnly = await CreateTokenAsync(server.Client, new CreateTokenRequest("read only", ["read"]));
        using var reader = ClientWith(readOnly.Token);
        using var wider = await reader.PostAsJsonAsync("/api/v1/tokens/", new CreateTokenRequest("wider", ["read", "submit"]));
        Assert.Equal(HttpStatusCode.Forbidden, wider.StatusCode);
        Assert.Contains("'submit'", await wider.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var defaulted = await CreateTokenAsync(reader, new CreateTokenRequest("default"));
        Assert.Equal(["read"], defaulted.View.Scopes);

        using var dave = await AddUserAsync("dave");
        using var admin = await dave.PostAsJsonAsync("/api/v1/tokens/", new CreateTokenRequest("admin please", ["read", "admin"]));
        Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
        var own = await CreateTokenAsync(dave, new CreateTokenRequest("mine"));
        Assert.Equal(ScopeNames.Default, own.View.Scopes);
        // Nor may it see or revoke anyone else's.
        Assert.Equal(HttpStatusCode.Forbidden, (await dave.GetAsync("/api/v1/tokens/?user=admin")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await dave.DeleteAsync($"/api/v1/tokens/{readOnly.View.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await dave.GetAsync("/api/v1/users/")).StatusCode);
        await AssertInvalidAsync(await dave.PostAsJsonAsync("/api/v1/tokens/", new CreateTokenRequest("x", ["root"])), "scopes[0]");
        await AssertInvalidAsync(await dave.PostAsJsonAsync("/api/v1/tokens/", new CreateTokenRequest(new string('c', 201))), "comment");
    }

    [Fact]
    public async Task Last_used_at_is_written_once_for_200_concurrent_requests_with_one_token()
    {
        var created = await CreateTokenAsync(server.Client, new CreateTokenRequest("busy"));
        await using var db = NpgsqlDataSource.Create(server.ConnectionString);
        // An instrument, not schema: counts the row versions the refresh writes for this token.
        await using (var setup = db.CreateCommand($"""
            CREATE TABLE IF NOT EXISTS touch_count (token_id bigint, n int);
            CREATE OR REPLACE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO touch_count VALUES (NEW.id, 1); RETURN NEW; END $$;
            DROP TRIGGER IF EXISTS count_touch ON api_tokens;
            CREATE TRIGGER count_touch AFTER UPDATE ON api_tokens FOR EACH ROW EXECUTE FUNCTION count_touch();
            """))
        {
            await setup.ExecuteNonQueryAsync();
        }
        try
        {
            using var client = ClientWith(created.Token);
            var answers = await Task.WhenAll(Enumerable.Range(0, 200).Select(async _ =>
            {
                using var response = await client.GetAsync("/api/v1/whoami");
                return response.StatusCode;
            }));
            Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a));
            await using var count = db.CreateCommand("SELECT count(*) FROM touch_count WHERE token_id = @id");
            count.Parameters.AddWithValue("id", created.View.Id);
            Assert.Equal(1L, (long)(await count.ExecuteScalarAsync())!);
        }
        finally
        {
            await using var drop = db.CreateCommand("DROP TRIGGER count_touch ON api_tokens");
            await drop.ExecuteNonQueryAsync();
        }
        var view = (await server.Client.GetFromJsonAsync<Page<TokenView>>("/api/v1/tokens/?limit=500", KilnClient.Json))!.Items.Single(t => t.Id == created.View.Id);
        Assert.NotNull(view.LastUsedAt);
    }

    [Fact]
    public async Task Member_and_role_changes_count_on_the_users_next_request()
    {
        using var erin = await AddUserAsync("erin");
        using var frank = await AddUserAsync("frank");
        Assert.Equal(HttpStatusCode.Created, (await erin.PostAsJsonAsync("/api/v1/projects/", new CreateProjectRequest("erins-secret", "hidden work", "private"))).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await erin.PostAsJsonAsync("/api/v1/projects/", new CreateProjectRequest("erins-secret"))).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await frank.GetAsync("/api/v1/projects/erins-secret")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await frank.GetAsync("/api/v1/projects/erins-secret/members")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.AnonymousClient().GetAsync("/api/v1/projects/erins-secret")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await erin.PutAsJsonAsync("/api/v1/projects/erins-secret/members/frank", new SetMemberRequest("viewer"))).StatusCode);
        var project = (await frank.GetFromJsonAsync<ProjectView>("/api/v1/projects/erins-secret", KilnClient.Json))!;
        Assert.Equal("private", project.Visibility);
        Assert.Equal("hidden work", project.Description);
        using var notOwner = await frank.PutAsJsonAsync("/api/v1/projects/erins-secret/members/frank", new SetMemberRequest("owner"));
        Assert.Equal(HttpStatusCode.Forbidden, notOwner.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await frank.PatchAsJsonAsync("/api/v1/projects/erins-secret", new UpdateProjectRequest("mine now"))).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await erin.PutAsJsonAsync("/api/v1/projects/erins-secret/members/frank", new SetMemberRequest("owner"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await frank.PatchAsJsonAsync("/api/v1/projects/erins-secret", new UpdateProjectRequest("shared"))).StatusCode);
        var members = (await frank.GetFromJsonAsync<List<MemberView>>("/api/v1/projects/erins-secret/members", KilnClient.Json))!;
        Assert.Equal(["erin:owner", "frank:owner"], members.Select(m => $"{m.User}:{m.Role}"));

        Assert.Equal(HttpStatusCode.OK, (await erin.DeleteAsync("/api/v1/projects/erins-secret/members/frank")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await frank.GetAsync("/api/v1/projects/erins-secret")).StatusCode);
        var me = (await erin.GetFromJsonAsync<WhoAmIView>("/api/v1/whoami", KilnClient.Json))!;
        Assert.Contains(new MembershipView("erins-secret", "owner"), me.Memberships);
    }

    [Fact]
    public async Task A_project_keeps_its_last_owner_and_the_farm_its_last_admin()
    {
        using var gina = await AddUserAsync("gina");
        Assert.Equal(HttpStatusCode.Created, (await gina.PostAsJsonAsync("/api/v1/projects/", new CreateProjectRequest("ginas"))).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await gina.PutAsJsonAsync("/api/v1/projects/ginas/members/gina", new SetMemberRequest("maintainer"))).StatusCode);
        using var removal = await gina.DeleteAsync("/api/v1/projects/ginas/members/gina");
        Assert.Equal(HttpStatusCode.Conflict, removal.StatusCode);
        Assert.Contains("last owner", await removal.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A second admin may be disabled while the first stays; the first, then the last, may not.
        Assert.Equal(HttpStatusCode.Created, (await server.Client.PostAsJsonAsync("/api/v1/users/", new CreateUserRequest("second-admin", Admin: true))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/users/second-admin/disable", null)).StatusCode);
        using var last = await server.Client.PostAsync("/api/v1/users/admin/disable", null);
        Assert.Equal(HttpStatusCode.Conflict, last.StatusCode);
        Assert.Contains("last enabled admin", await last.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/api/v1/whoami")).StatusCode);
    }

    [Fact]
    public async Task Every_change_is_in_the_audit_log_with_its_actor_and_address()
    {
        using var hank = await AddUserAsync("hank");
        var token = await CreateTokenAsync(hank, new CreateTokenRequest("audited"));
        Assert.Equal(HttpStatusCode.OK, (await hank.DeleteAsync($"/api/v1/tokens/{token.View.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await hank.PostAsJsonAsync("/api/v1/projects/", new CreateProjectRequest("hanks"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await hank.PatchAsJsonAsync("/api/v1/projects/hanks", new UpdateProjectRequest(Visibility: "private"))).StatusCode);
        using (await AddUserAsync("ivy"))
        {
        }
        Assert.Equal(HttpStatusCode.OK, (await hank.PutAsJsonAsync("/api/v1/projects/hanks/members/ivy", new SetMemberRequest("contributor"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await hank.DeleteAsync("/api/v1/projects/hanks/members/ivy")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PutAsJsonAsync("/api/v1/projects/hanks", new ProjectSettings(5, null, null))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/users/ivy/disable", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/users/ivy/enable", null)).StatusCode);
        using (await server.RegisterWorkerAsync("audited-worker"))
        {
        }
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/workers/audited-worker/disable", null)).StatusCode);

        var entries = (await server.Client.GetFromJsonAsync<Page<AuditEntryView>>("/api/v1/audit?limit=500", KilnClient.Json))!.Items;
        void Has(string action, string target, string actor)
        {
            var entry = entries.FirstOrDefault(e => e.Action == action && e.Target == target);
            Assert.True(entry is not null, $"no {action} of {target} in the audit log");
            Assert.Equal(actor, entry.Actor);
            Assert.Equal("user", entry.ActorKind);
            Assert.Equal("127.0.0.1", entry.Address);
        }
        Has("user.add", "user:hank", "admin");
        Has("token.create", $"token:{token.View.Id}", "hank");
        Has("token.revoke", $"token:{token.View.Id}", "hank");
        Has("project.create", "project:hanks", "hank");
        Has("project.update", "project:hanks", "hank");
        Has("member.set", "project:hanks", "hank");
        Has("member.remove", "project:hanks", "hank");
        Has("project.policy", "project:hanks", "admin");
        Has("user.disable", "user:ivy", "admin");
        Has("user.enable", "user:ivy", "admin");
        Has("worker.disable", "worker:audited-worker", "admin");
        Assert.Equal(entries.OrderByDescending(e => e.Id).Select(e => e.Id), entries.Select(e => e.Id));
        Assert.DoesNotContain(token.Token, JsonSerializer.Serialize(entries), StringComparison.Ordinal);

        var filtered = (await server.Client.GetFromJsonAsync<Page<AuditEntryView>>("/api/v1/audit?action=member.set&actor=hank", KilnClient.Json))!.Items;
        Assert.NotEmpty(filtered);
        Assert.All(filtered, e => Assert.Equal(("member.set", "hank"), (e.Action, e.Actor)));
        Assert.Equal(HttpStatusCode.Forbidden, (await hank.GetAsync("/api/v1/audit")).StatusCode);
    }

    [Fact]
    public async Task Bad_input_is_a_400_naming_the_field()
    {
        await AssertInvalidAsync(await server.Client.PostAsJsonAsync("/api/v1/users/", new CreateUserRequest("-bad")), "name");
        await AssertInvalidAsync(await server.Client.PostAsJsonAsync("/api/v1/users/", new CreateUserRequest("ok-name", Email: "no at sign")), "email");
        await AssertInvalidAsync(await server.Client.PostAsJsonAsync("/api/v1/projects/", new CreateProjectRequest("p1", Visibility: "secret")), "visibility");
        await AssertInvalidAsync(await server.Client.PostAsJsonAsync("/api/v1/projects/", new CreateProjectRequest("bad name")), "name");
        Assert.Equal(HttpStatusCode.Created, (await server.Client.PostAsJsonAsync("/api/v1/projects/", new CreateProjectRequest("validated"))).StatusCode);
        await AssertInvalidAsync(await server.Client.PutAsJsonAsync("/api/v1/projects/validated/members/admin", new SetMemberRequest("god")), "role");
        await AssertInvalidAsync(await server.Client.PatchAsJsonAsync("/api/v1/projects/validated", new UpdateProjectRequest(new string('d', 2001))), "description");
        await AssertInvalidAsync(await server.Client.GetAsync("/api/v1/audit?limit=0"), "limit");
        using var big = await server.Client.PostAsync("/api/v1/users/", new StringContent($"{{\"name\":\"x\",\"displayName\":\"{new string('x', 20_000)}\"}}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.AnonymousClient().GetAsync("/api/v1/whoami")).StatusCode);
    }

    private async Task<HttpClient> AddUserAsync(string name)
    {
        using var added = await server.Client.PostAsJsonAsync("/api/v1/users/", new CreateUserRequest(name, $"{name} example", $"{name}@example.org"));
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        using var minted = await server.Client.PostAsJsonAsync($"/api/v1/users/{name}/tokens", new CreateTokenRequest("first"));
        Assert.Equal(HttpStatusCode.Created, minted.StatusCode);
        return ClientWith((await minted.Content.ReadFromJsonAsync<CreatedTokenResponse>(KilnClient.Json))!.Token);
    }

    private static async Task<CreatedTokenResponse> CreateTokenAsync(HttpClient client, CreateTokenRequest request)
    {
        using var response = await client.PostAsJsonAsync("/api/v1/tokens/", request);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<CreatedTokenResponse>(KilnClient.Json))!;
    }

    private HttpClient ClientWith(string token)
    {
        var client = server.AnonymousClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static async Task AssertInvalidAsync(HttpResponseMessage response, string field)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{response.StatusCode}: {body}");
            using var problem = JsonDocument.Parse(body);
            Assert.Contains(field, problem.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("field").GetString()));
        }
    }

    private async Task<string> PgDumpAsync()
    {
        var cluster = await TestCluster.GetAsync();
        var cs = new NpgsqlConnectionStringBuilder(server.ConnectionString);
        var psi = new ProcessStartInfo(Path.Combine(cluster.BinDirectory, "pg_dump"), ["-h", cs.Host!, "-U", cs.Username!, "-d", cs.Database!])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await error);
        return await output;
    }
}
