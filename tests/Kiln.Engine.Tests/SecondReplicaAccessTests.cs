using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Server.Hosting;
using Kiln.Testing;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Kiln.Engine.Tests;

/// <summary>
/// Two replicas on one database: what is changed through one counts on the other's very next
/// request — a revoked token, a disabled user, a removed membership. Nothing about a user is
/// cached by a replica.
/// </summary>
public sealed class SecondReplicaAccessTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private KilnServerHost? _replica;

    public async Task InitializeAsync()
    {
        var directory = Directory.CreateTempSubdirectory("kiln-second-replica-").FullName;
        _replica = await KilnServerHost.StartAsync(server.Options(server.ConnectionString) with { DataDirectory = directory },
            logging: b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());
    }

    public async Task DisposeAsync()
    {
        if (_replica is not null)
        {
            await _replica.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_token_revoked_through_one_replica_is_refused_by_the_other_on_its_next_request()
    {
        var created = await CreateTokenAsync(server.Client, "replica test");
        using var onReplica = ReplicaClient(created.Token);
        Assert.Equal(HttpStatusCode.OK, (await onReplica.GetAsync("/api/v1/whoami")).StatusCode);

        using var revoke = await server.Client.DeleteAsync($"/api/v1/tokens/{created.View.Id}");
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);

        using var refused = await onReplica.GetAsync("/api/v1/whoami");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("revoked", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_user_disabled_and_a_member_removed_through_one_replica_count_at_once_on_the_other()
    {
        using (var added = await server.Client.PostAsJsonAsync("/api/v1/users/", new CreateUserRequest("replica-bob")))
        {
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }
        using (var project = await server.Client.PostAsJsonAsync("/api/v1/projects/", new { name = "replica-private", visibility = "private" }))
        {
            Assert.True(project.IsSuccessStatusCode, await project.Content.ReadAsStringAsync());
        }
        using (var member = await server.Client.PutAsJsonAsync("/api/v1/projects/replica-private/members/replica-bob", new SetMemberRequest("viewer")))
        {
            Assert.True(member.IsSuccessStatusCode, await member.Content.ReadAsStringAsync());
        }
        using var minted = await server.Client.PostAsJsonAsync("/api/v1/users/replica-bob/tokens", new CreateTokenRequest("bob on the replica"));
        Assert.True(minted.IsSuccessStatusCode, await minted.Content.ReadAsStringAsync());
        var bob = (await minted.Content.ReadFromJsonAsync<CreatedTokenResponse>(KilnClient.Json))!;
        using var onReplica = ReplicaClient(bob.Token);
        Assert.Equal(HttpStatusCode.OK, (await onReplica.GetAsync("/api/v1/projects/replica-private")).StatusCode);

        using (var removed = await server.Client.DeleteAsync("/api/v1/projects/replica-private/members/replica-bob"))
        {
            Assert.True(removed.IsSuccessStatusCode, await removed.Content.ReadAsStringAsync());
        }
        Assert.Equal(HttpStatusCode.NotFound, (await onReplica.GetAsync("/api/v1/projects/replica-private")).StatusCode);

        using (var disabled = await server.Client.PostAsync("/api/v1/users/replica-bob/disable", null))
        {
            Assert.True(disabled.IsSuccessStatusCode, await disabled.Content.ReadAsStringAsync());
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await onReplica.GetAsync("/api/v1/whoami")).StatusCode);
    }

    private HttpClient ReplicaClient(string token)
    {
        var client = new HttpClient { BaseAddress = new Uri(_replica!.Url), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static async Task<CreatedTokenResponse> CreateTokenAsync(HttpClient client, string comment)
    {
        using var response = await client.PostAsJsonAsync("/api/v1/tokens/", new CreateTokenRequest(comment));
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<CreatedTokenResponse>(KilnClient.Json))!;
    }
}
