using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Core.Security;
using Kiln.Store.Events;
using Kiln.Store.Identity;
using Kiln.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Engine.Tests;

/// <summary>Who sees which event: a user sees Koji events and those of projects it may see; a private project's and a rejected one stay hidden.</summary>
public sealed class EventAccessTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private readonly TriggerFarm farm = new(server);

    [Fact]
    public async Task A_user_lists_koji_events_but_neither_a_private_projects_push_nor_a_rejected_delivery()
    {
        var services = server.Host.Services;
        var identity = services.GetRequiredService<IdentityStore>();
        var admin = (await identity.FirstAdminIdAsync(default))!.Value;
        await services.GetRequiredService<AccessStore>().CreateProjectAsync("hidden", admin, isPrivate: true, "", default);
        await farm.ExecuteAsync("""
            INSERT INTO repository_links (project_id, forge, repository, secret_sealed, secret_key_id, created_at)
            SELECT id, 'github', 'org/hidden', '\x00', 'test', now() FROM projects WHERE name = 'hidden'
            """);
        var link = await farm.ScalarAsync("SELECT id FROM repository_links WHERE repository = 'org/hidden'");
        var push = await farm.InsertAsync(new NewEvent(EventSources.GitHub, "hidden-1", EventTypes.Push, EventStates.Received,
            new EventFacts { Repository = "org/hidden", Branch = "main", Sha = "1" }, new Dictionary<string, string>(), null, [link], null));
        var rejected = await farm.InsertAsync(new NewEvent(EventSources.GitHub, null, EventTypes.Push, EventStates.Rejected,
            new EventFacts(), new Dictionary<string, string>(), null, [], "203.0.113.9", [new EventEffect(EventEffectKinds.Rejected, "bad signature")]));
        var koji = await farm.InsertAsync(TriggerFarm.KojiTag("seen", "1", "1"));

        await farm.ExecuteAsync("INSERT INTO users (name, created_at) VALUES ('outsider', now())");
        var user = await farm.ScalarAsync("SELECT id FROM users WHERE name = 'outsider'");
        var (_, token) = await identity.CreateTokenAsync(user, "test", Scopes.All, null, default);
        using var outsider = server.AnonymousClient();
        outsider.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        var listed = (await outsider.GetFromJsonAsync<Page<EventSummary>>("api/v1/events/?limit=500", KilnClient.Json))!.Items.Select(e => e.Id).ToList();
        Assert.Contains(koji, listed);
        Assert.DoesNotContain(push, listed);
        Assert.DoesNotContain(rejected, listed);
        Assert.Equal(HttpStatusCode.NotFound, (await outsider.GetAsync($"api/v1/events/{rejected}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await outsider.GetAsync($"api/v1/events/{push}")).StatusCode);
        var all = (await farm.Client.GetFromJsonAsync<Page<EventSummary>>("api/v1/events/?limit=500", KilnClient.Json))!.Items.Select(e => e.Id).ToList();
        Assert.Contains(push, all);
        Assert.Contains(rejected, all);
    }
}
