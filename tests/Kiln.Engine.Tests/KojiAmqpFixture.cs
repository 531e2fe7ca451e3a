using Kiln.Server.Hooks.Koji;
using Kiln.Server.Hosting;
using Kiln.Testing;

namespace Kiln.Engine.Tests;

/// <summary>A real RabbitMQ broker and a Kiln server consuming Koji messages from it (queue <see cref="Queue"/>).</summary>
public sealed class KojiAmqpFixture : ServerFixture, IAsyncLifetime
{
    public const string Queue = "kiln-koji-tests";

    public RabbitMqServer Broker { get; } = new();

    public override KilnServerOptions Options(string connectionString) => base.Options(connectionString) with
    {
        // The consumer starts before the broker is up and reaches it by reconnecting, as after a broker outage.
        Amqp = new AmqpIntakeOptions { Url = Broker.Url, Queue = Queue, MaxReconnectDelay = TimeSpan.FromSeconds(1), Prefetch = 10 },
    };

    public new async Task InitializeAsync()
    {
        await Task.WhenAll(Broker.StartAsync(), base.InitializeAsync());
        // Ready once the consumer has declared, bound and subscribed (before that a publish finds no route).
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!await ConsumingAsync())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the server did not start consuming queue {Queue}");
            }
            await Task.Delay(100);
        }
    }

    private async Task<bool> ConsumingAsync()
    {
        try
        {
            return await Broker.ConsumersAsync(Queue) == 1;
        }
        catch (InvalidOperationException)
        {
            return false; // the queue is not declared yet
        }
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Broker.DisposeAsync();
    }
}
