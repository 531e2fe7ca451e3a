using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Kiln.Contracts;
using Kiln.Testing;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>POST /api/v1/events/koji: Koji tag messages in fedora-messaging's JSON form, stored once under their id.</summary>
public sealed class KojiEventsApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    internal static string Message(string id, string topic = "org.fedoraproject.prod.buildsys.tag", string name = "python-requests",
        string version = "2.32.3", string release = "1.eln143", string tag = "eln-build-trigger", long buildId = 2_500_001) =>
        JsonSerializer.Serialize(new
        {
            id,
            topic,
            headers = new Dictionary<string, string> { ["fedora_messaging_schema"] = "koji_fedoramessaging.tag.TagV1", ["sent-at"] = "2026-12-01T17:00:00+00:00" },
            body = new { build_id = buildId, name, version, release, tag, tag_id = 4242, user = "bodhi", owner = "churchyard", instance = "primary" },
        });

    private static StringContent Json(string text) => new(text, Encoding.UTF8, "application/json");

    [Fact]
    public async Task A_tag_message_is_stored_as_a_received_event_with_its_facts_and_answered_202()
    {
        var id = Guid.NewGuid().ToString();
        var message = Message(id);
        using var response = await server.Client.PostAsync("/api/v1/events/koji", Json(message));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = (await response.Content.ReadFromJsonAsync<EventAccepted>(KilnClient.Json))!;
        Assert.False(accepted.Duplicate);
        Assert.Equal(EventStates.Received, accepted.State);
        Assert.Equal($"/api/v1/events/{accepted.EventId}", response.Headers.Location?.OriginalString);

        var row = await RowAsync(accepted.EventId);
        Assert.Equal(("koji", id, "buildsys.tag", Hooks.HookFarm.ForRules), (row.Source, row.Key, row.Type, row.State));
        Assert.Equal(Encoding.UTF8.GetBytes(message), row.Body);
        Assert.Equal(new EventFacts
        {
            BuildId = 2_500_001, Package = "python-requests", Version = "2.32.3", Release = "1.eln143",
            KojiTag = "eln-build-trigger", Sender = "bodhi", Owner = "churchyard", Instance = "primary",
        }, row.Facts);
        Assert.Equal("org.fedoraproject.prod.buildsys.tag", row.Headers["topic"]);
        Assert.Equal("koji_fedoramessaging.tag.TagV1", row.Headers["fedora_messaging_schema"]);

        using var untag = await server.Client.PostAsync("/api/v1/events/koji", Json(Message(Guid.NewGuid().ToString(), topic: "org.centos.prod.buildsys.untag")));
        Assert.Equal(HttpStatusCode.Accepted, untag.StatusCode);
        var untagged = (await untag.Content.ReadFromJsonAsync<EventAccepted>(KilnClient.Json))!;
        Assert.Equal("buildsys.untag", (await RowAsync(untagged.EventId)).Type);
    }

    [Fact]
    public async Task The_same_message_posted_three_times_is_one_event_and_the_repeats_answer_200_with_its_id()
    {
        var id = Guid.NewGuid().ToString();
        var answers = new List<(HttpStatusCode, EventAccepted)>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await server.Client.PostAsync("/api/v1/events/koji", Json(Message(id)));
            answers.Add((response.StatusCode, (await response.Content.ReadFromJsonAsync<EventAccepted>(KilnClient.Json))!));
        }
        Assert.Equal([HttpStatusCode.Accepted, HttpStatusCode.OK, HttpStatusCode.OK], answers.Select(a => a.Item1));
        Assert.Single(answers.Select(a => a.Item2.EventId).Distinct());
        Assert.Equal([false, true, true], answers.Select(a => a.Item2.Duplicate));
        Assert.Equal(1, await CountAsync(id));
    }

    [Fact]
    public async Task A_malformed_message_is_a_400_naming_each_bad_field_and_stores_nothing()
    {
        var before = await CountAsync(null);
        await AssertInvalidAsync("""{"topic":"org.fedoraproject.prod.buildsys.tag","body":{"build_id":1,"name":"a","version":"1","release":"1","tag":"t"}}""", "id");
        await AssertInvalidAsync("""{"id":"m1","body":{"build_id":1,"name":"a","version":"1","release":"1","tag":"t"}}""", "topic");
        await AssertInvalidAsync("""{"id":"m1","topic":"org.fedoraproject.prod.buildsys.tag"}""", "body");
        await AssertInvalidAsync("""{"id":"m1","topic":"org.fedoraproject.prod.buildsys.tag","msg_id":"x","body":{}}""", "msg_id");
        await AssertInvalidAsync("""{"id":"m1","topic":"org.fedoraproject.prod.buildsys.tag","body":{"build_id":"12","name":"a","version":"1","release":"1","tag":"t"}}""", "body.build_id");
        await AssertInvalidAsync("""{"id":"m1","topic":"org.fedoraproject.prod.buildsys.tag","body":{"build_id":12,"version":"1","release":"1","tag":"t"}}""", "body.name");
        await AssertInvalidAsync("""{"id":"m1","topic":"org.fedoraproject.prod.buildsys.tag","body":{"build_id":12,"name":"a","version":"1","release":"1","tag":"t\u0000"}}""", "body.tag");
        await AssertInvalidAsync("""{"id":"m1","topic":"org.fedoraproject.prod.buildsys.tag","body":{"build_id":12,"name":"a","version":"1","release":"1","tag":"t","user":7}}""", "body.user");
        await AssertInvalidAsync($$$"""{"id":"{{{new string('i', 201)}}}","topic":"org.fedoraproject.prod.buildsys.tag","body":{}}""", "id");
        await AssertInvalidAsync("""{"id":"m1","topic":"org.fedoraproject.prod.buildsys.tag","body":[1]}""", "body");
        await AssertInvalidAsync("""{"id":"m1",""", "");
        Assert.Equal(before, await CountAsync(null));
    }

    [Fact]
    public async Task An_oversize_message_is_refused_with_413_and_stores_nothing()
    {
        var before = await CountAsync(null);
        var huge = Message(Guid.NewGuid().ToString(), name: new string('n', 100_000));
        using var response = await server.Client.PostAsync("/api/v1/events/koji", Json(huge));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(before, await CountAsync(null));
    }

    [Fact]
    public async Task A_message_of_another_topic_is_stored_as_ignored_so_no_rule_sees_it()
    {
        var id = Guid.NewGuid().ToString();
        using var response = await server.Client.PostAsync("/api/v1/events/koji",
            Json(JsonSerializer.Serialize(new { id, topic = "org.fedoraproject.prod.buildsys.build.state.change", body = new { build_id = 1, @new = 1 } })));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = (await response.Content.ReadFromJsonAsync<EventAccepted>(KilnClient.Json))!;
        Assert.Equal(EventStates.Ignored, accepted.State);
        var row = await RowAsync(accepted.EventId);
        Assert.Equal(("buildsys.build.state.change", "ignored"), (row.Type, row.State));
    }

    [Fact]
    public async Task Only_a_farm_admin_may_post_Koji_messages()
    {
        using var anonymous = await server.AnonymousClient().PostAsync("/api/v1/events/koji", Json(Message(Guid.NewGuid().ToString())));
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        using var added = await server.Client.PostAsJsonAsync("/api/v1/users/", new CreateUserRequest("kojibridge", "not an admin", "kb@example.org"));
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        using var minted = await server.Client.PostAsJsonAsync("/api/v1/users/kojibridge/tokens", new CreateTokenRequest("bridge"));
        var token = (await minted.Content.ReadFromJsonAsync<CreatedTokenResponse>(KilnClient.Json))!.Token;
        using var user = server.AnonymousClient();
        user.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var id = Guid.NewGuid().ToString();
        using var refused = await user.PostAsync("/api/v1/events/koji", Json(Message(id)));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(0, await CountAsync(id));
    }

    private async Task AssertInvalidAsync(string body, string field)
    {
        using var response = await server.Client.PostAsync("/api/v1/events/koji", Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        using var problem = JsonDocument.Parse(text);
        var fields = problem.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("field").GetString()).ToList();
        Assert.True(fields.Contains(field), $"expected a problem naming '{field}': {text}");
    }

    internal sealed record EventRow(string Source, string? Key, string Type, string State, byte[]? Body, EventFacts Facts, Dictionary<string, string> Headers);

    private async Task<EventRow> RowAsync(long id) => await ReadRowAsync(server.ConnectionString, id);

    internal static async Task<EventRow> ReadRowAsync(string connectionString, long id)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT source, delivery_key, event_type, {Hooks.HookFarm.ForRulesSql}, body, facts::text, headers::text FROM events WHERE id = @id", conn);
        cmd.Parameters.AddWithValue("id", id);
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), $"event {id} is not stored");
        return new EventRow(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2), reader.GetString(3),
            reader.IsDBNull(4) ? null : (byte[])reader[4], Store.Events.EventJson.ReadFacts(reader.GetString(5)),
            JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(6))!);
    }

    private async Task<long> CountAsync(string? key) => await CountEventsAsync(server.ConnectionString, key);

    internal static async Task<long> CountEventsAsync(string connectionString, string? key)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM events WHERE source = 'koji' AND (@key::text IS NULL OR delivery_key = @key)", conn);
        cmd.Parameters.Add(new NpgsqlParameter("key", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)key ?? DBNull.Value });
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
