using System.Net;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests.Hooks;

/// <summary>
/// Reconcile against the fake forge: GitHub redelivers the deliveries Kiln never stored (and only
/// those, once); on every forge, branch and tag heads Kiln has not seen — tags GitHub never sent
/// an event for, pushes GitLab dropped — become events once; a link's first reconcile only records
/// the heads; the leader reconciles a link on its period.
/// </summary>
public sealed class ReconcileTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private FakeForge _forge = null!;
    private HookFarm _farm = null!;

    public async Task InitializeAsync()
    {
        _forge = await FakeForge.StartAsync();
        _farm = new HookFarm(server, _forge);
    }

    public async Task DisposeAsync() => await _forge.DisposeAsync();

    private async Task<ReconcileReport> ReconcileAsync(long link)
    {
        using var response = await server.Client.PostAsync($"/api/v1/links/{link}/reconcile", null);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<ReconcileReport>(KilnClient.Json))!;
    }

    [Fact]
    public async Task GitHub_redelivers_exactly_the_deliveries_kiln_never_stored_and_a_second_reconcile_asks_for_none()
    {
        var (_, repo, link, hook) = await _farm.LinkedAsync("github", api: true, withHookId: true);
        var delivered = (await _forge.PushAsync(repo, "main", new string('1', 40))).Single();
        hook.Dropping = true;
        var lost = new[] { (await _forge.PushAsync(repo, "main", new string('2', 40))).Single(), (await _forge.PushAsync(repo, "topic", new string('3', 40))).Single() };
        hook.Dropping = false;

        var first = await ReconcileAsync(link.Id);
        var second = await ReconcileAsync(link.Id);

        Assert.Equal(202, delivered.StatusCode);
        Assert.Equal(lost.Select(d => d.Guid).Order(), first.Redelivered.Order());
        foreach (var missed in lost)
        {
            var stored = await _farm.EventsAsync("source = 'github' AND delivery_key = @key", key: missed.Guid);
            Assert.Equal(HookFarm.ForRules, Assert.Single(stored).State);
        }
        Assert.Empty(second.Redelivered);
        // Everything the forge lists arrived by (re)delivery: nothing had to be made up.
        Assert.Empty(first.Fed);
        var calls = _forge.Requests;
        Assert.Equal(2, calls.Count(r => r.Method == "POST" && r.PathAndQuery.EndsWith("/attempts", StringComparison.Ordinal)));
        Assert.All(calls, r => Assert.Equal($"Bearer {_forge.ApiToken}", r.Headers["Authorization"]));
        Assert.Contains(calls, r => r.PathAndQuery.StartsWith($"/repos/{repo.FullName}/hooks/{hook.Id}/deliveries", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Tags_github_never_sent_events_for_are_fed_in_once_as_tag_events_and_a_links_first_reconcile_only_records_the_heads()
    {
        var (_, repo, link, _) = await _farm.LinkedAsync("github", api: true);
        repo.SetBranch("old", new string('0', 39) + "1"); // there before anyone reconciled: not news
        await _forge.PushAsync(repo, "main", new string('4', 40));

        var baseline = await ReconcileAsync(link.Id);
        // More than three tags at once: GitHub sends no event; more than a page of them, too.
        var tags = Enumerable.Range(1, 103).Select(i => ($"v{i}", Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)))[..40])).ToList();
        foreach (var (tag, sha) in tags)
        {
            repo.SetTag(tag, sha);
        }
        repo.SetBranch("main", new string('5', 40));
        var fed = await ReconcileAsync(link.Id);
        var again = await ReconcileAsync(link.Id);

        Assert.Empty(baseline.Fed);
        Assert.Equal(1, baseline.Baselined);
        Assert.Equal(105, fed.RefsChecked);
        Assert.Equal(104, fed.Fed.Count);
        Assert.All(fed.Fed, f => Assert.False(f.Duplicate));
        Assert.Empty(again.Fed);
        var events = await _farm.EventsAsync("link_ids @> ARRAY[@id] AND delivery_key LIKE 'reconcile:%'", id: link.Id);
        Assert.Equal(104, events.Count);
        var v7 = events.Single(e => e.Facts.Tag == "v7");
        Assert.Equal((EventTypes.Tag, HookFarm.ForRules, "refs/tags/v7", tags[6].Item2, $"reconcile:{link.Id}:refs/tags/v7:{tags[6].Item2}"),
            (v7.Type, v7.State, v7.Facts.Ref!, v7.Facts.Sha!, v7.DeliveryKey!));
        var main = events.Single(e => e.Facts.Ref == "refs/heads/main");
        Assert.Equal((EventTypes.Push, "main", new string('5', 40), repo.FullName.ToLowerInvariant()), (main.Type, main.Facts.Branch!, main.Facts.Sha!, main.Facts.Repository!));
    }

    [Theory]
    [InlineData("gitlab")]
    [InlineData("forgejo")]
    public async Task Pushes_the_forge_dropped_are_fed_in_from_the_branch_heads_and_delivered_ones_are_not(string kind)
    {
        // A GitLab project in a subgroup: its path goes to the API URL-encoded, as one segment.
        var path = kind == "gitlab" ? $"{HookFarm.Unique("group")}/sub/{HookFarm.Unique("name")}" : $"{HookFarm.Unique("owner")}/{HookFarm.Unique("name")}";
        var (_, repo, link, hook) = await _farm.LinkedAsync(kind, api: true, repository: path);
        await _forge.PushAsync(repo, "main", new string('6', 40));
        await ReconcileAsync(link.Id);
        hook.Dropping = true;
        await _forge.PushAsync(repo, "main", new string('7', 40));
        await _forge.PushAsync(repo, "topic", new string('8', 40));
        hook.Dropping = false;
        await _forge.PushAsync(repo, "delivered", new string('9', 40));

        var report = await ReconcileAsync(link.Id);

        Assert.Equal(["refs/heads/main", "refs/heads/topic"], report.Fed.Select(f => f.Ref).Order());
        Assert.Equal(new string('7', 40), report.Fed.Single(f => f.Ref == "refs/heads/main").Sha);
        var api = _forge.Requests.Where(r => r.PathAndQuery.Contains("/branches", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(api);
        if (kind == "gitlab")
        {
            Assert.All(api, r => Assert.Equal(_forge.ApiToken, r.Headers["PRIVATE-TOKEN"]));
            Assert.Contains(Uri.EscapeDataString(repo.FullName.ToLowerInvariant()), api[0].PathAndQuery, StringComparison.Ordinal);
        }
        else
        {
            Assert.All(api, r => Assert.Equal($"token {_forge.ApiToken}", r.Headers["Authorization"]));
        }
    }

    [Fact]
    public async Task A_link_without_an_api_url_is_409_and_a_forge_refusing_the_token_is_502_saying_what_it_answered()
    {
        var (_, _, plain, _) = await _farm.LinkedAsync("forgejo");
        var (project, repo, _, hook) = await _farm.LinkedAsync("forgejo", api: true);
        var badToken = await _farm.LinkAsync(project, new LinkRepositoryRequest("forgejo", repo.FullName, hook.Secret, _forge.ApiUrl("forgejo"), "not-the-token"));

        using var noApi = await server.Client.PostAsync($"/api/v1/links/{plain.Id}/reconcile", null);
        using var refused = await server.Client.PostAsync($"/api/v1/links/{badToken.Id}/reconcile", null);
        using var missing = await server.Client.PostAsync("/api/v1/links/999999999/reconcile", null);

        Assert.Equal(HttpStatusCode.Conflict, noApi.StatusCode);
        Assert.Contains("apiUrl", await noApi.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        var detail = (await refused.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("detail").GetString();
        Assert.Contains("with 401: {\"message\":\"Bad credentials\"}", detail, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task The_leader_reconciles_a_link_on_its_period()
    {
        // The head is there before the link: the leader may reconcile as soon as the link exists.
        var name = $"{HookFarm.Unique("owner")}/{HookFarm.Unique("periodic")}";
        _forge.Repository("github", name).SetBranch("main", new string('b', 40));
        var (_, repo, link, _) = await _farm.LinkedAsync("github", api: true, reconcileSeconds: 60, repository: name);
        await WaitAsync($"SELECT count(*) = 1 FROM repository_link_refs WHERE link_id = {link.Id}", "the first periodic reconcile's baseline");
        repo.SetTag("v9", new string('a', 40));
        await SqlAsync($"UPDATE repository_links SET last_reconciled_at = now() - interval '2 minutes' WHERE id = {link.Id}");

        await WaitAsync($"SELECT count(*) = 1 FROM events WHERE delivery_key = 'reconcile:{link.Id}:refs/tags/v9:{new string('a', 40)}'", "the tag fed by the periodic reconcile");
    }

    private async Task<object?> SqlAsync(string sql)
    {
        await using var db = new NpgsqlConnection(server.ConnectionString);
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, db);
        return await cmd.ExecuteScalarAsync();
    }

    private async Task WaitAsync(string sql, string what)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await SqlAsync(sql) is not true)
        {
            Assert.False(deadline.IsCancellationRequested, $"waited 60 s for {what}");
            await Task.Delay(100);
        }
    }
}
