using System.Net.Http.Json;
using Kiln.Contracts;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests.Hooks;

/// <summary>
/// A Kiln server and a <see cref="FakeForge"/> beside it: projects and repository links made
/// through the API (as the farm's admin), hooks on the forge pointing at Kiln's hook endpoints,
/// and reads of the events Kiln stored. Each test uses names of its own.
/// </summary>
public sealed class HookFarm(ServerFixture server, FakeForge forge)
{
    private static int s_names;

    public ServerFixture Server { get; } = server;

    public FakeForge Forge { get; } = forge;

    public static string Unique(string prefix) => $"{prefix}{Interlocked.Increment(ref s_names)}";

    public string HookUrl(string kind) => $"{Server.Host.Url.TrimEnd('/')}/api/v1/hooks/{kind}";

    /// <summary>A new project, a repository on the forge, a link with <paramref name="secret"/>, and a hook of the repository signed with it.</summary>
    public async Task<(string Project, FakeRepository Repository, RepositoryLinkView Link, FakeHook Hook)> LinkedAsync(
        string kind, string secret = "a-webhook-secret-of-the-test", bool standardWebhooks = false, string? repository = null,
        bool api = false, bool withHookId = false, int? reconcileSeconds = null)
    {
        var project = Unique("hooks");
        using (var created = await Server.Client.PostAsJsonAsync("/api/v1/projects", new { name = project }))
        {
            created.EnsureSuccessStatusCode();
        }
        var repo = Forge.Repository(kind, repository ?? $"{Unique("owner")}/{Unique("repo")}");
        var hook = repo.AddHook(HookUrl(kind), secret, standardWebhooks);
        var link = await LinkAsync(project, new LinkRepositoryRequest(kind, repo.FullName, secret,
            api ? Forge.ApiUrl(kind) : null, api ? Forge.ApiToken : null,
            withHookId ? hook.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null, reconcileSeconds));
        return (project, repo, link, hook);
    }

    public async Task<RepositoryLinkView> LinkAsync(string project, LinkRepositoryRequest request)
    {
        using var response = await Server.Client.PostAsJsonAsync($"/api/v1/projects/{project}/links", request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<RepositoryLinkView>())!;
    }

    /// <summary>
    /// What the intake's tests compare a stored state with: <see cref="ForRules"/> for an event handed to
    /// the rules — still received, or already processed by the leader's processor, which may run at once —
    /// and the state itself when ignored or rejected.
    /// </summary>
    public const string ForRules = "for-rules";

    public const string ForRulesSql = "CASE WHEN state IN ('received', 'processed') THEN 'for-rules' ELSE state END";

    /// <summary>The stored event with this id: its row as the intake wrote it.</summary>
    public async Task<StoredEvent> EventAsync(long id) => (await EventsAsync("id = @id", id)).Single();

    /// <summary>Events matching a condition on <c>events</c> (parameter @id is <paramref name="id"/>, @key is <paramref name="key"/>), in id order.</summary>
    public async Task<IReadOnlyList<StoredEvent>> EventsAsync(string where, long id = 0, string key = "")
    {
        await using var db = new NpgsqlConnection(Server.ConnectionString);
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand($"""
            SELECT id, source, delivery_key, event_type, {ForRulesSql}, facts::text, headers::text, body, body_size, effects::text, link_ids
            FROM events WHERE {where} ORDER BY id
            """, db);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("key", key);
        await using var reader = await cmd.ExecuteReaderAsync();
        var events = new List<StoredEvent>();
        while (await reader.ReadAsync())
        {
            events.Add(new StoredEvent(
                reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3), reader.GetString(4),
                Store.Events.EventJson.ReadFacts(reader.GetString(5)), reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetFieldValue<byte[]>(7),
                reader.GetInt32(8), reader.GetString(9), reader.GetFieldValue<long[]>(10)));
        }
        return events;
    }

    /// <summary>The event an accepted delivery's answer names.</summary>
    public static async Task<EventAccepted> AcceptedAsync(FakeDelivery delivery)
    {
        Assert.True(delivery.Succeeded, $"{delivery.StatusCode} {delivery.ResponseBody}");
        return System.Text.Json.JsonSerializer.Deserialize<EventAccepted>(delivery.ResponseBody, KilnClient.Json)!;
    }

    /// <summary>The event id a refusal's problem names.</summary>
    public static long RejectedId(FakeDelivery delivery)
    {
        using var problem = System.Text.Json.JsonDocument.Parse(delivery.ResponseBody);
        return problem.RootElement.GetProperty("eventId").GetInt64();
    }
}

/// <summary>An events row.</summary>
public sealed record StoredEvent(
    long Id, string Source, string? DeliveryKey, string Type, string State, EventFacts Facts, string Headers, byte[]? Body, int BodySize,
    string Effects, long[] LinkIds);
