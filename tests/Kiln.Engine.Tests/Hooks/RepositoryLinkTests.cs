using System.Net;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests.Hooks;

/// <summary>
/// Repository links through the API: only a project's owners (and admins) link, list and unlink;
/// no answer carries a secret or token and the database holds them sealed; linking again rotates
/// the secret; bad input is a 400 naming the field; an unlinked repository's deliveries are refused.
/// </summary>
public sealed class RepositoryLinkTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private const string Secret = "link-secret-Q7v-never-shown";
    private const string Token = "forge-token-Z3k-never-shown";
    private static int s_instances;
    private SecretsFarm _people = null!;
    private FakeForge _forge = null!;
    private HookFarm _farm = null!;

    public async Task InitializeAsync()
    {
        _people = await SecretsFarm.CreateAsync(server, $"links{Interlocked.Increment(ref s_instances)}");
        _forge = await FakeForge.StartAsync();
        _farm = new HookFarm(server, _forge);
    }

    public async Task DisposeAsync() => await _forge.DisposeAsync();

    private static object Body(string repository, string secret = Secret) =>
        new { forge = "github", repository, secret, apiUrl = "https://api.github.example", token = Token, hookId = "42" };

    [Fact]
    public async Task Only_owners_and_admins_link_list_and_unlink_and_no_answer_carries_the_secret_or_token()
    {
        var a = _people.ProjectA;
        var answers = new List<string>();
        using var created = await _people.Owner.PostAsJsonAsync($"/api/v1/projects/{a}/links", Body("Acme/Widget"));
        answers.Add(await created.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var link = (await created.Content.ReadFromJsonAsync<RepositoryLinkView>())!;
        Assert.Equal(("acme/widget", "/api/v1/hooks/github", true, "42"), (link.Repository, link.HookPath, link.HasToken, link.HookId!));

        using (var maintainer = await _people.Maintainer.PostAsJsonAsync($"/api/v1/projects/{a}/links", Body("acme/other")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, maintainer.StatusCode);
        }
        using (var stranger = await _people.OtherOwner.PostAsJsonAsync($"/api/v1/projects/{a}/links", Body("acme/other")))
        {
            Assert.Equal(HttpStatusCode.NotFound, stranger.StatusCode);
        }
        using (var anonymous = server.AnonymousClient())
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/v1/projects/{a}/links")).StatusCode);
        }
        Assert.Equal(HttpStatusCode.Forbidden, (await _people.Maintainer.GetAsync($"/api/v1/links/{link.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _people.OtherOwner.GetAsync($"/api/v1/links/{link.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _people.OtherOwner.DeleteAsync($"/api/v1/links/{link.Id}")).StatusCode);

        foreach (var path in new[] { $"/api/v1/projects/{a}/links", $"/api/v1/links/{link.Id}" })
        {
            using var read = await _people.Owner.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            answers.Add(await read.Content.ReadAsStringAsync());
        }
        using (var admin = await server.Client.GetAsync($"/api/v1/projects/{a}/links"))
        {
            answers.Add(await admin.Content.ReadAsStringAsync());
            Assert.Contains("acme/widget", answers[^1], StringComparison.Ordinal);
        }

        using var removed = await _people.Owner.DeleteAsync($"/api/v1/links/{link.Id}");
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _people.Owner.DeleteAsync($"/api/v1/links/{link.Id}")).StatusCode);
        Assert.Empty((await _people.Owner.GetFromJsonAsync<List<RepositoryLinkView>>($"/api/v1/projects/{a}/links"))!);
        Assert.All(answers, body => Assert.DoesNotContain("never-shown", body, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_database_holds_the_secret_and_token_sealed_and_the_audit_log_names_the_link_without_them()
    {
        using var created = await _people.Owner.PostAsJsonAsync($"/api/v1/projects/{_people.ProjectA}/links", Body("acme/sealed"));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        await using var db = new NpgsqlConnection(server.ConnectionString);
        await db.OpenAsync();
        await using (var rows = new NpgsqlCommand("SELECT row_to_json(l)::text, secret_sealed, token_sealed FROM repository_links l WHERE repository = 'acme/sealed'", db))
        await using (var reader = await rows.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.DoesNotContain("never-shown", reader.GetString(0), StringComparison.Ordinal);
            Assert.Equal(-1, reader.GetFieldValue<byte[]>(1).AsSpan().IndexOf("never-shown"u8));
            Assert.Equal(-1, reader.GetFieldValue<byte[]>(2).AsSpan().IndexOf("never-shown"u8));
            Assert.True(reader.GetFieldValue<byte[]>(1).Length > Secret.Length);
        }
        await using var audit = new NpgsqlCommand("SELECT string_agg(action || ' ' || details::text, E'\\n') FROM audit_log WHERE action LIKE 'repository-link.%'", db);
        var logged = (string)(await audit.ExecuteScalarAsync())!;
        Assert.Contains("repository-link.create", logged, StringComparison.Ordinal);
        Assert.Contains("acme/sealed", logged, StringComparison.Ordinal);
        Assert.DoesNotContain("never-shown", logged, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Linking_again_rotates_the_secret_so_the_old_one_no_longer_verifies_and_unlinking_refuses_the_repository()
    {
        var (project, repo, link, hook) = await _farm.LinkedAsync("forgejo", "the-first-secret-value");
        var again = await _farm.LinkAsync(project, new LinkRepositoryRequest("forgejo", repo.FullName.ToUpperInvariant(), "the-second-secret-value"));
        Assert.Equal(link.Id, again.Id);

        var old = (await _forge.PushAsync(repo, "main", new string('1', 40))).Single();
        hook.Secret = "the-second-secret-value";
        var rotated = (await _forge.PushAsync(repo, "main", new string('2', 40))).Single();
        using (var removed = await server.Client.DeleteAsync($"/api/v1/links/{link.Id}"))
        {
            Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        }
        var unlinked = (await _forge.PushAsync(repo, "main", new string('3', 40))).Single();

        Assert.Equal((401, 202, 404), (old.StatusCode, rotated.StatusCode, unlinked.StatusCode));
        // The events of a removed link stay, naming it.
        Assert.Equal([link.Id], (await _farm.EventAsync((await HookFarm.AcceptedAsync(rotated)).EventId)).LinkIds);
    }

    [Fact]
    public async Task Two_projects_linking_one_repository_each_verify_with_their_own_secret()
    {
        var (_, repo, first, hook) = await _farm.LinkedAsync("github", "the-secret-of-project-one");
        var other = HookFarm.Unique("hooks");
        using (var created = await server.Client.PostAsJsonAsync("/api/v1/projects", new { name = other }))
        {
            created.EnsureSuccessStatusCode();
        }
        var second = await _farm.LinkAsync(other, new LinkRepositoryRequest("github", repo.FullName, "the-secret-of-project-two"));
        repo.AddHook(_farm.HookUrl("github"), "the-secret-of-project-two");

        var deliveries = await _forge.PushAsync(repo, "main", new string('4', 40));

        var linked = new List<long[]>();
        foreach (var delivery in deliveries)
        {
            linked.Add((await _farm.EventAsync((await HookFarm.AcceptedAsync(delivery)).EventId)).LinkIds);
        }
        Assert.Equal([[first.Id], [second.Id]], linked);
        Assert.Equal(hook, repo.Hooks[0]);
    }

    [Fact]
    public async Task Bad_link_requests_are_400_naming_each_field()
    {
        var cases = new (object Body, string Field)[]
        {
            (new { forge = "bitbucket", repository = "a/b", secret = Secret }, "forge"),
            (new { forge = "github", repository = "no-slash", secret = Secret }, "repository"),
            (new { forge = "github", repository = "a/b/c", secret = Secret }, "repository"),
            (new { forge = "github", repository = "a/b", secret = "short" }, "secret"),
            (new { forge = "github", repository = "a/b" }, "secret"),
            (new { forge = "github", repository = "a/b", secret = "tab\tin-the-secret-here" }, "secret"),
            (new { forge = "github", repository = "a/b", secret = Secret, apiUrl = "ftp://forge" }, "apiUrl"),
            (new { forge = "github", repository = "a/b", secret = Secret, reconcileSeconds = 600 }, "reconcileSeconds"),
            (new { forge = "github", repository = "a/b", secret = Secret, apiUrl = "https://api.github.com", reconcileSeconds = 5 }, "reconcileSeconds"),
            (new { forge = "gitlab", repository = "a/b", secret = Secret, hookId = "7" }, "hookId"),
            (new { forge = "github", repository = "a/b", secret = Secret, hookId = "seven" }, "hookId"),
        };
        foreach (var (body, field) in cases)
        {
            using var response = await _people.Owner.PostAsJsonAsync($"/api/v1/projects/{_people.ProjectA}/links", body);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{field}: {(int)response.StatusCode} {text}");
            Assert.Contains($"\"field\":\"{field}\"", text, StringComparison.Ordinal);
        }
        using var nested = await _people.Owner.PostAsJsonAsync($"/api/v1/projects/{_people.ProjectA}/links",
            new { forge = "gitlab", repository = "Group/Sub/Name", secret = Secret });
        Assert.Equal(HttpStatusCode.Created, nested.StatusCode);
    }
}
