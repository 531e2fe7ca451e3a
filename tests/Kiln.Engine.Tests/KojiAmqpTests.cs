using System.Text.Json;
using Kiln.Contracts;
using Npgsql;

namespace Kiln.Engine.Tests;

/// <summary>The AMQP consumer against a real RabbitMQ: a message is stored once under its id, and acknowledged only once stored.</summary>
public sealed class KojiAmqpTests(KojiAmqpFixture farm) : IClassFixture<KojiAmqpFixture>
{
    private const string Tag = "org.fedoraproject.prod.buildsys.tag";

    private static string Body(string name, string release = "1.eln143") => JsonSerializer.Serialize(new
    {
        build_id = 2_600_001, name, version = "1.0", release, tag = "eln-build-trigger", tag_id = 4242, user = "bodhi", owner = "churchyard", instance = "primary",
    });

    [Fact]
    public async Task A_published_tag_message_is_stored_with_its_facts_and_then_acknowledged()
    {
        var id = Guid.NewGuid().ToString();
        await farm.Broker.PublishAsync(Tag, Body("rust-serde"), id);
        var eventId = await EventuallyStoredAsync(id);
        var row = await KojiEventsApiTests.ReadRowAsync(farm.ConnectionString, eventId);
        Assert.Equal(("koji", "buildsys.tag", Hooks.HookFarm.ForRules), (row.Source, row.Type, row.State));
        Assert.Equal(("rust-serde", "1.0", "1.eln143", "eln-build-trigger", 2_600_001L, "bodhi"),
            (row.Facts.Package, row.Facts.Version, row.Facts.Release, row.Facts.KojiTag, row.Facts.BuildId!.Value, row.Facts.Sender));
        Assert.Equal(("amqp", Tag, "amq.topic"), (row.Headers["via"], row.Headers["topic"], row.Headers["exchange"]));
        await QueueDrainedAsync();
    }

    [Fact]
    public async Task The_same_message_delivered_three_times_is_one_event_and_every_copy_is_acknowledged()
    {
        var id = Guid.NewGuid().ToString();
        for (var i = 0; i < 3; i++)
        {
            await farm.Broker.PublishAsync(Tag, Body("python-urllib3"), id);
        }
        await EventuallyStoredAsync(id);
        await QueueDrainedAsync();
        Assert.Equal(1, await KojiEventsApiTests.CountEventsAsync(farm.ConnectionString, id));
    }

    [Fact]
    public async Task A_message_without_an_id_is_keyed_by_its_topic_and_body_so_its_copies_still_dedupe()
    {
        var body = Body("no-id-" + Guid.NewGuid().ToString("N"));
        await farm.Broker.PublishAsync(Tag, body, messageId: null);
        await farm.Broker.PublishAsync(Tag, body, messageId: null);
        var key = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Tag + "\n" + body)));
        await EventuallyStoredAsync(key);
        await QueueDrainedAsync();
        Assert.Equal(1, await KojiEventsApiTests.CountEventsAsync(farm.ConnectionString, key));
    }

    [Fact]
    public async Task A_malformed_message_is_stored_rejected_with_the_reason_and_acknowledged_so_it_never_comes_back()
    {
        var marker = Guid.NewGuid().ToString();
        await farm.Broker.PublishAsync(Tag, $$"""{"build_id": "not a number", "name": "{{marker}}", "version": "1", "release": "1", "tag": "t"}""", marker);
        await farm.Broker.PublishAsync(Tag, "this is not JSON " + marker, Guid.NewGuid().ToString());
        var effects = await EventuallyAsync(async () =>
        {
            var found = await RejectedEffectsAsync(marker);
            return found.Count == 2 ? found : null;
        });
        Assert.Contains(effects, e => e.Contains("build_id: must be a non-negative integer", StringComparison.Ordinal));
        Assert.Contains(effects, e => e.Contains("body: is not JSON", StringComparison.Ordinal));
        await QueueDrainedAsync();
        // A malformed message never occupies its id: a good copy sent afterwards is stored.
        await farm.Broker.PublishAsync(Tag, Body("good-copy"), marker);
        await EventuallyStoredAsync(marker);
    }

    [Fact]
    public async Task The_consumer_reconnects_after_the_broker_is_killed_and_restarted_and_loses_nothing_queued()
    {
        var before = Guid.NewGuid().ToString();
        await farm.Broker.PublishAsync(Tag, Body("before-crash"), before);
        await EventuallyStoredAsync(before);

        await farm.Broker.KillAsync();
        await farm.Broker.StartAsync();
        // The consumer found the broker again by itself (the durable queue came back with the broker's data).
        await EventuallyAsync(async () => await farm.Broker.ConsumersAsync(KojiAmqpFixture.Queue) == 1 ? (bool?)true : null, "the consumer to reconnect");
        var after = Guid.NewGuid().ToString();
        await farm.Broker.PublishAsync(Tag, Body("after-crash"), after);
        await EventuallyStoredAsync(after);
        await QueueDrainedAsync();
    }

    private async Task<long> EventuallyStoredAsync(string key) => await EventuallyAsync(async () =>
    {
        await using var conn = new NpgsqlConnection(farm.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT id FROM events WHERE source = 'koji' AND delivery_key = @key", conn);
        cmd.Parameters.AddWithValue("key", key);
        return await cmd.ExecuteScalarAsync() as long?;
    });

    private async Task<List<string>> RejectedEffectsAsync(string marker)
    {
        await using var conn = new NpgsqlConnection(farm.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT effects->0->>'message' FROM events
            WHERE source = 'koji' AND state = 'rejected' AND delivery_key IS NULL AND position(convert_to(@marker, 'UTF8') in body) > 0
            """, conn);
        cmd.Parameters.AddWithValue("marker", marker);
        var list = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            list.Add(reader.GetString(0));
        }
        return list;
    }

    /// <summary>Nothing ready and nothing delivered but unacknowledged: every message was acknowledged.</summary>
    private async Task QueueDrainedAsync()
    {
        var last = (Ready: -1L, Unacknowledged: -1L);
        var drained = await EventuallyAsync(async () =>
        {
            last = await farm.Broker.QueueAsync(KojiAmqpFixture.Queue);
            return last == (0, 0) ? (bool?)true : null;
        }, $"queue {KojiAmqpFixture.Queue} to be drained");
        Assert.True(drained, $"ready {last.Ready}, unacknowledged {last.Unacknowledged}");
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe, string what = "the message to be stored") where T : struct =>
        (await EventuallyAsync(async () => await probe() is { } value ? new Box<T>(value) : null, what)).Value;

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe, string what = "the message to be stored", bool _ = false) where T : class
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(100);
        }
    }

    private sealed record Box<T>(T Value);
}
