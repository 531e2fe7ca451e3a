using System.Text.Json;
using Kiln.Server.Hooks.Koji;
using Kiln.Testing;
using Npgsql;

namespace Kiln.EndToEnd.Tests;

/// <summary>The AMQP consumer is a real server process, killed between storing a message and acknowledging it.</summary>
public sealed class KojiAmqpKillTests
{
    private const string Queue = "kiln-koji-kill";

    [Fact]
    public async Task A_server_killed_after_storing_a_message_but_before_its_ack_gets_it_redelivered_and_stores_it_once()
    {
        await using var broker = new RabbitMqServer();
        var brokerStart = broker.StartAsync();
        var connectionString = await TestCluster.CreateDatabaseAsync(nameof(KojiAmqpKillTests));
        var directory = Directory.CreateTempSubdirectory("kiln-e2e-koji-kill-").FullName;
        var url = $"http://127.0.0.1:{Farm.FreePort()}";
        string[] args = ["server", "--database", connectionString, "--urls", url, "--data-dir", Path.Combine(directory, "server"),
            "--amqp-url", broker.Url.ToString(), "--amqp-queue", Queue];
        await brokerStart;

        var messageId = Guid.NewGuid().ToString();
        await using (var doomed = KilnProcess.Start(args, new Dictionary<string, string> { [KojiAmqpConsumer.KillBeforeAckVariable] = "1" }))
        {
            // The consumer has declared and bound its queue once it is subscribed to it.
            await Eventually.TrueAsync(async () => !doomed.HasExited && await ConsumingAsync(broker), Farm.Patience, "the server to consume", () => doomed.Output);
            await broker.PublishAsync("org.fedoraproject.prod.buildsys.tag", Body("kernel"), messageId);
            await doomed.WaitForExitAsync(Farm.Patience);
            Assert.Equal(137, doomed.ExitCode); // SIGKILL, by the fault switch, right after the insert committed
        }
        Assert.Equal(1, await CountAsync(connectionString, messageId));
        // Not acknowledged: the broker holds it ready for the next consumer.
        Assert.Equal((1L, 0L), await broker.QueueAsync(Queue));

        await using (var server = KilnProcess.Start(args))
        {
            await Eventually.TrueAsync(async () => await broker.QueueAsync(Queue) == (0, 0), Farm.Patience, "the redelivered message to be acknowledged", () => server.Output);
            await Eventually.TrueAsync(() => server.Output.Contains($"Koji message {messageId} was delivered again", StringComparison.Ordinal),
                Farm.Patience, "the consumer to report the redelivered copy", () => server.Output);
            Assert.Equal(1, await CountAsync(connectionString, messageId));
        }
        Directory.Delete(directory, recursive: true);
    }

    [Theory]
    [InlineData("--amqp-url", "http://broker.example.org/", "--amqp-url must be an amqp:// or amqps:// URL")]
    [InlineData("--amqp-prefetch", "0", "--amqp-prefetch must be 1 to 1000")]
    public async Task A_bad_amqp_option_stops_the_server_with_one_line_naming_it(string option, string value, string message)
    {
        string[] args = option == "--amqp-url" ? ["server", option, value] : ["server", "--amqp-url", "amqp://127.0.0.1/", option, value];
        var (exit, stdout, stderr) = await KilnProcess.RunSplitAsync(args);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.StartsWith($"kiln server: {message}", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }

    private static string Body(string name) => JsonSerializer.Serialize(new
    {
        build_id = 2_700_001, name, version = "6.12.0", release = "1.eln143", tag = "eln-build-trigger", tag_id = 4242, user = "bodhi", owner = "jforbes", instance = "primary",
    });

    private static async Task<bool> ConsumingAsync(RabbitMqServer broker)
    {
        try
        {
            return await broker.ConsumersAsync(Queue) == 1;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task<long> CountAsync(string connectionString, string key)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM events WHERE source = 'koji' AND delivery_key = @key", conn);
        cmd.Parameters.AddWithValue("key", key);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
