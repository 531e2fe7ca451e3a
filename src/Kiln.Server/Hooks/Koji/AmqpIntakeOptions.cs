namespace Kiln.Server.Hooks.Koji;

/// <summary>
/// The AMQP consumer of Koji messages (<c>kiln server --amqp-url …</c>; docs/koji.md): where the
/// broker is, which queue Kiln consumes, and which topics it binds that queue to.
/// </summary>
public sealed record AmqpIntakeOptions
{
    /// <summary>amqp:// or amqps:// URL with user, password and virtual host (--amqp-url, KILN_AMQP_URL). Never logged with its password.</summary>
    public required Uri Url { get; init; }

    /// <summary>The queue Kiln consumes (--amqp-queue): declared durable, so messages wait in it while Kiln is down.</summary>
    public string Queue { get; init; } = "kiln-koji";

    /// <summary>The exchange the queue is bound to (--amqp-exchange); fedora-messaging publishes to amq.topic. Empty: bind nothing, consume an existing queue as it is.</summary>
    public string Exchange { get; init; } = "amq.topic";

    /// <summary>Routing keys (topics) bound (--amqp-binding, repeatable).</summary>
    public IReadOnlyList<string> BindingKeys { get; init; } = DefaultBindingKeys;

    /// <summary>Messages the broker may have in flight to Kiln, unacknowledged (--amqp-prefetch).</summary>
    public ushort Prefetch { get; init; } = 50;

    /// <summary>Longest wait between two attempts to reach the broker (the first is 0.5 s, doubling up to this).</summary>
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(30);

    public static readonly IReadOnlyList<string> DefaultBindingKeys = ["org.fedoraproject.prod.buildsys.tag", "org.fedoraproject.prod.buildsys.untag"];

    /// <summary>The URL without its user information, for logs and errors.</summary>
    public string SafeUrl => Url.GetComponents(UriComponents.Scheme | UriComponents.Host | UriComponents.Port | UriComponents.Path, UriFormat.UriEscaped);
}
