using System.CommandLine;
using Kiln.Server.Hooks.Koji;
using Kiln.Server.Hosting;

namespace Kiln.Cli.Commands;

/// <summary>
/// The AMQP consumer's options of <c>kiln server</c> (docs/koji.md): each an option, else an
/// environment variable; without a URL there is no consumer.
/// </summary>
public sealed class AmqpIntakeCliOptions
{
    private static readonly AmqpIntakeOptions Defaults = new() { Url = new Uri("amqp://localhost/") };

    private readonly Option<string?> _url = new("--amqp-url")
    {
        Description = "Consume Koji messages from this AMQP broker: amqp[s]://USER:PASSWORD@HOST[:PORT]/VHOST (default: $KILN_AMQP_URL; unset = no consumer)",
    };

    private readonly Option<string?> _queue = new("--amqp-queue")
    {
        Description = $"The durable queue Kiln consumes (default: $KILN_AMQP_QUEUE or {Defaults.Queue})",
    };

    private readonly Option<string?> _exchange = new("--amqp-exchange")
    {
        Description = $"The exchange the queue is bound to; '' binds nothing (default: $KILN_AMQP_EXCHANGE or {Defaults.Exchange})",
    };

    private readonly Option<string[]> _bindings = new("--amqp-binding")
    {
        Description = $"A topic (routing key) to bind, repeatable (default: $KILN_AMQP_BINDINGS, comma-separated, or {string.Join(", ", AmqpIntakeOptions.DefaultBindingKeys)})",
        AllowMultipleArgumentsPerToken = false,
    };

    private readonly Option<int?> _prefetch = new("--amqp-prefetch")
    {
        Description = $"Unacknowledged messages the broker may send ahead, 1–1000 (default: $KILN_AMQP_PREFETCH or {Defaults.Prefetch})",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_url);
        command.Options.Add(_queue);
        command.Options.Add(_exchange);
        command.Options.Add(_bindings);
        command.Options.Add(_prefetch);
    }

    /// <summary><paramref name="options"/> with the consumer asked for; throws <see cref="CliException"/> naming a bad value.</summary>
    public KilnServerOptions Apply(ParseResult parse, KilnServerOptions options)
    {
        if ((parse.GetValue(_url) ?? Env("KILN_AMQP_URL")) is not { } text)
        {
            return options;
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("amqp" or "amqps") || url.Host.Length == 0)
        {
            throw new CliException("--amqp-url must be an amqp:// or amqps:// URL with a host (amqp://USER:PASSWORD@HOST:5672/VHOST)", 2);
        }
        var queue = parse.GetValue(_queue) ?? Env("KILN_AMQP_QUEUE") ?? Defaults.Queue;
        if (queue.Length is 0 or > 255)
        {
            throw new CliException("--amqp-queue must be 1 to 255 characters", 2);
        }
        var exchange = parse.GetValue(_exchange) ?? Environment.GetEnvironmentVariable("KILN_AMQP_EXCHANGE") ?? Defaults.Exchange;
        if (exchange.Length > 255)
        {
            throw new CliException("--amqp-exchange must be at most 255 characters", 2);
        }
        var given = parse.GetValue(_bindings) is { Length: > 0 } keys ? keys
            : Env("KILN_AMQP_BINDINGS") is { } list ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [.. AmqpIntakeOptions.DefaultBindingKeys];
        if (given.Length == 0 || given.Any(k => k.Length is 0 or > 255))
        {
            throw new CliException("--amqp-binding must name a topic of 1 to 255 characters", 2);
        }
        int prefetch;
        if (parse.GetValue(_prefetch) is { } p)
        {
            prefetch = p;
        }
        else if (Env("KILN_AMQP_PREFETCH") is { } prefetchText)
        {
            prefetch = int.TryParse(prefetchText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? parsed : -1;
        }
        else
        {
            prefetch = Defaults.Prefetch;
        }
        if (prefetch is < 1 or > 1000)
        {
            throw new CliException("--amqp-prefetch must be 1 to 1000", 2);
        }
        return options with
        {
            Amqp = new AmqpIntakeOptions { Url = url, Queue = queue, Exchange = exchange, BindingKeys = given, Prefetch = (ushort)prefetch },
        };
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}
