using System.CommandLine;
using Kiln.Server.Hosting;

namespace Kiln.Cli.Commands;

/// <summary>
/// The options of <c>kiln server</c> and <c>kiln up</c> that say how connections are secured:
/// <c>--tls-cert</c>/<c>--tls-key</c>, <c>--behind-proxy</c> and <c>--trusted-proxy</c>, each
/// with its environment variable. Where the server may listen is <see cref="ListenPolicy"/>'s call.
/// </summary>
public sealed class TransportSecurityOptions
{
    private readonly Option<string?> _cert = new("--tls-cert") { Description = "PEM certificate chain for https:// URLs (default: $KILN_TLS_CERT)" };
    private readonly Option<string?> _key = new("--tls-key") { Description = "PEM private key of --tls-cert (default: $KILN_TLS_KEY)" };
    private readonly Option<bool> _behindProxy = new("--behind-proxy")
    {
        Description = "TLS ends at a reverse proxy in front: allow plain http beyond loopback and take X-Forwarded-For/-Proto from trusted proxies (default: $KILN_BEHIND_PROXY=1)",
    };
    private readonly Option<string[]> _trustedProxy = new("--trusted-proxy")
    {
        Description = "With --behind-proxy: address or CIDR network of a proxy whose X-Forwarded-* headers are believed, instead of loopback (repeatable; default: $KILN_TRUSTED_PROXIES, comma-separated)",
        AllowMultipleArgumentsPerToken = false,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_cert);
        command.Options.Add(_key);
        command.Options.Add(_behindProxy);
        command.Options.Add(_trustedProxy);
    }

    /// <summary><paramref name="options"/> with what the command line and the environment say about TLS and proxies.</summary>
    public KilnServerOptions Apply(ParseResult parse, KilnServerOptions options)
    {
        var trusted = parse.GetValue(_trustedProxy) is { Length: > 0 } given
            ? given
            : (Env("KILN_TRUSTED_PROXIES") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return options with
        {
            TlsCertificateFile = parse.GetValue(_cert) ?? Env("KILN_TLS_CERT"),
            TlsKeyFile = parse.GetValue(_key) ?? Env("KILN_TLS_KEY"),
            BehindProxy = parse.GetValue(_behindProxy) || Env("KILN_BEHIND_PROXY") is "1" or "true" or "yes",
            TrustedProxies = trusted,
        };
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}
