using System.Security.Cryptography;
using System.Text;
using Kiln.Contracts;
using Kiln.Core;
using Kiln.Store.Events;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Kiln.Server.Hooks.Koji;

/// <summary>
/// Consumes Koji tag messages from an AMQP broker (RabbitMQ, as fedora-messaging uses) into
/// <c>events</c>. A message is acknowledged only after <see cref="EventStore.InsertAsync"/>
/// committed it: a crash, a kill or a lost connection before that leaves it unacknowledged, the
/// broker delivers it again, and its message id (the delivery key) makes the second copy store
/// nothing — so no message is lost and none is stored twice. Runs on every replica (competing
/// consumers of one queue); one message at a time, so events keep the broker's order.
/// A lost broker is reached again with backoff (0.5 s doubling to <see cref="AmqpIntakeOptions.MaxReconnectDelay"/>);
/// a database that fails an insert is retried the same way while the message stays unacknowledged.
/// </summary>
public sealed partial class KojiAmqpConsumer(AmqpIntakeOptions options, EventStore events, TimeProvider time, ILogger<KojiAmqpConsumer> logger)
    : BackgroundService
{
    /// <summary>
    /// Test-only fault: when this environment variable is 1 the process kills itself (SIGKILL)
    /// right after storing a message and before acknowledging it — the crash the redelivery
    /// test needs at exactly that point. Never set in production.
    /// </summary>
    public const string KillBeforeAckVariable = "KILN_FAULT_KILL_BEFORE_AMQP_ACK";

    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(500);

    private readonly bool _killBeforeAck = Environment.GetEnvironmentVariable(KillBeforeAckVariable) == "1";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = FirstDelay;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await ConsumeUntilLostAsync(stoppingToken))
                {
                    delay = FirstDelay;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogBrokerUnreachable(logger, options.SafeUrl, delay.TotalSeconds, e.Message);
            }
            try
            {
                await Task.Delay(delay, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.MaxReconnectDelay.Ticks));
        }
    }

    /// <summary>Connects, declares and binds the queue, and consumes until the connection or channel closes; true once consuming had started.</summary>
    private async Task<bool> ConsumeUntilLostAsync(CancellationToken stop)
    {
        var factory = new ConnectionFactory
        {
            Uri = options.Url,
            // Kiln reconnects itself (one loop, with its backoff and its log), from the first connect on.
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            ClientProvidedName = "kiln koji intake",
            RequestedHeartbeat = TimeSpan.FromSeconds(30),
        };
        await using var connection = await factory.CreateConnectionAsync(stop);
        var lost = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionShutdownAsync += (_, e) => { lost.TrySetResult(e.ReplyText); return Task.CompletedTask; };
        await using var channel = await connection.CreateChannelAsync(cancellationToken: stop);
        channel.ChannelShutdownAsync += (_, e) => { lost.TrySetResult(e.ReplyText); return Task.CompletedTask; };
        await channel.BasicQosAsync(0, options.Prefetch, false, stop);
        await channel.QueueDeclareAsync(options.Queue, durable: true, exclusive: false, autoDelete: false, arguments: null, cancellationToken: stop);
        if (options.Exchange.Length > 0)
        {
            foreach (var key in options.BindingKeys)
            {
                await channel.QueueBindAsync(options.Queue, options.Exchange, key, arguments: null, cancellationToken: stop);
            }
        }
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) => HandleAsync(channel, delivery, stop);
        await channel.BasicConsumeAsync(options.Queue, autoAck: false, consumer, stop);
        LogConsuming(logger, options.Queue, options.SafeUrl);
        var why = await lost.Task.WaitAsync(stop);
        LogConnectionLost(logger, options.SafeUrl, why);
        return true;
    }

    private async Task HandleAsync(IChannel channel, BasicDeliverEventArgs delivery, CancellationToken stop)
    {
        // The body's memory belongs to the client only for the length of this call.
        var body = delivery.Body.ToArray();
        var e = ToEvent(delivery.BasicProperties, delivery.Exchange, delivery.RoutingKey, body);
        var delay = FirstDelay;
        EventAccepted accepted;
        while (true)
        {
            try
            {
                accepted = await events.InsertAsync(e, stop);
                break;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return; // Not acknowledged: the broker delivers it again to whoever consumes next.
            }
            catch (Exception ex)
            {
                LogStoreFailed(logger, e.DeliveryKey ?? "(rejected)", delay.TotalSeconds, ex.Message);
                try
                {
                    await Task.Delay(delay, time, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.MaxReconnectDelay.Ticks));
            }
        }
        if (_killBeforeAck)
        {
            System.Diagnostics.Process.GetCurrentProcess().Kill();
        }
        try
        {
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, stop);
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.OperationInterruptedException or OperationCanceledException or ObjectDisposedException)
        {
            // The channel went away after the insert: the broker redelivers and the key dedupes it.
            LogAckLost(logger, accepted.EventId, ex.Message);
            return;
        }
        if (accepted.Duplicate)
        {
            LogDuplicate(logger, e.DeliveryKey!, accepted.EventId);
        }
    }

    /// <summary>
    /// The event an AMQP message is stored as. The delivery key is the message id; a message
    /// without one is keyed by the SHA-256 of its topic and body, so its redeliveries still dedupe.
    /// A malformed or oversize message is stored rejected (and acknowledged: a poison message
    /// must not come back forever) with the reason in its effects.
    /// </summary>
    internal static NewEvent ToEvent(IReadOnlyBasicProperties properties, string exchange, string topic, byte[] body)
    {
        var headers = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["topic"] = Bounded(topic, KojiMessage.MaxTopicLength),
            ["via"] = "amqp",
        };
        if (exchange.Length > 0)
        {
            headers["exchange"] = Bounded(exchange, 255);
        }
        if (properties.Headers is { } amqpHeaders)
        {
            foreach (var name in KojiEventsApi.KeptHeaders)
            {
                if (amqpHeaders.TryGetValue(name, out var value) && value is not null
                    && (value is byte[] bytes ? Encoding.UTF8.GetString(bytes) : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)) is { Length: <= 200 } text
                    && SafeText.Problem(text, multiline: false) is null)
                {
                    headers[name] = text;
                }
            }
        }
        var id = properties.MessageId is { Length: > 0 } given ? given
            : "sha256:" + Convert.ToHexStringLower(SHA256.HashData([.. Encoding.UTF8.GetBytes(topic), (byte)'\n', .. body]));
        var problems = new List<ValidationError>();
        if (KojiMessage.IdProblem(id) is { } idProblem)
        {
            problems.Add(new("message_id", idProblem));
        }
        if (KojiMessage.TopicProblem(topic) is { } topicProblem)
        {
            problems.Add(new("routing_key", topicProblem));
        }
        var reading = problems.Count > 0
            ? new KojiMessage.Reading(null, new EventFacts(), problems)
            : KojiMessage.Read(topic, body);
        return KojiEvents.New(SafeText.Clean(Bounded(id, KojiMessage.MaxIdLength), multiline: false), SafeText.Clean(headers["topic"], multiline: false), reading, headers, body, null);
    }

    private static string Bounded(string text, int max) => text.Length <= max ? text : text[..max];

    [LoggerMessage(Level = LogLevel.Information, Message = "Consuming Koji messages from queue {Queue} at {Url}")]
    private static partial void LogConsuming(ILogger logger, string queue, string url);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the AMQP connection to {Url} ({Reason}); unacknowledged messages go back to the queue, reconnecting")]
    private static partial void LogConnectionLost(ILogger logger, string url, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot consume from the AMQP broker at {Url}; trying again in {Seconds} s: {Error}")]
    private static partial void LogBrokerUnreachable(ILogger logger, string url, double seconds, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not store Koji message {Key}; it stays unacknowledged and is tried again in {Seconds} s: {Error}")]
    private static partial void LogStoreFailed(ILogger logger, string key, double seconds, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Koji message {Key} was delivered again; already stored as event {EventId}, acknowledged")]
    private static partial void LogDuplicate(ILogger logger, string key, long eventId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stored event {EventId} but could not acknowledge it ({Error}); the broker will redeliver it and the copy will store nothing")]
    private static partial void LogAckLost(ILogger logger, long eventId, string error);
}
