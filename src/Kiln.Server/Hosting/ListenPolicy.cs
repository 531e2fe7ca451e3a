using System.Net;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Hosting;

/// <summary>
/// Where the server may listen. Workers send their secrets and users their tokens on every
/// request, so plain http is allowed only where nobody else can listen in: loopback
/// (127.0.0.0/8, ::1, <c>localhost</c>) or a local socket. Anywhere else needs https with a
/// certificate, or the operator's word that a reverse proxy in front terminates TLS
/// (<see cref="KilnServerOptions.BehindProxy"/>). <c>kiln server</c>, <c>kiln up</c> and
/// <see cref="KilnServerHost.StartAsync"/> all ask here, so no way of starting a server skips it.
/// </summary>
public static class ListenPolicy
{
    /// <summary>Why the server must not start with <paramref name="options"/> (one line, no prefix), or null when it may.</summary>
    public static string? Refusal(KilnServerOptions options)
    {
        var hasCert = options.TlsCertificateFile is { Length: > 0 };
        var hasKey = options.TlsKeyFile is { Length: > 0 };
        if (hasCert != hasKey)
        {
            return "--tls-cert and --tls-key go together: give the PEM certificate chain and its PEM private key";
        }
        if (options.TrustedProxies.Count > 0 && !options.BehindProxy)
        {
            return "--trusted-proxy only means something with --behind-proxy";
        }
        foreach (var proxy in options.TrustedProxies)
        {
            if (!TryParseProxy(proxy, out _, out _))
            {
                return $"--trusted-proxy '{proxy}' is not an IP address or a CIDR network (e.g. 10.0.0.5 or 10.0.0.0/24)";
            }
        }

        var urls = options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0)
        {
            return "--urls is empty; give a listen address such as http://127.0.0.1:8080";
        }
        var anyHttps = false;
        foreach (var url in urls)
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException)
            {
                return $"'{url}' is not a listen address (e.g. http://127.0.0.1:8080 or https://0.0.0.0:8443)";
            }
            var scheme = address.Scheme.ToLowerInvariant();
            if (scheme == "https")
            {
                if (!hasCert)
                {
                    return $"{url} needs a certificate: give --tls-cert and --tls-key (PEM files)";
                }
                anyHttps = true;
            }
            else if (scheme != "http")
            {
                return $"'{url}' is neither http:// nor https://";
            }
            else if (!options.BehindProxy && !IsLocal(address))
            {
                return $"refusing to listen on {url} without TLS: anyone who can reach it would see tokens in clear; "
                    + "give --tls-cert and --tls-key, use an https:// URL, or pass --behind-proxy if a reverse proxy terminates TLS";
            }
        }
        if (hasCert && !anyHttps)
        {
            return "--tls-cert is given but no --urls address is https://, so the certificate would not be used; use an https:// URL";
        }
        return null;
    }

    /// <summary>
    /// Only this machine can connect: a loopback address, <c>localhost</c> (Kestrel binds it to
    /// the loopback addresses only) or a Unix socket. Any other host — <c>0.0.0.0</c>,
    /// <c>[::]</c>, <c>*</c>, <c>+</c>, a name, a real address — Kestrel binds on every
    /// interface or on one others can reach.
    /// </summary>
    public static bool IsLocal(BindingAddress address)
    {
        if (address.IsUnixPipe || address.IsNamedPipe)
        {
            return true;
        }
        if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        if (!IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip))
        {
            return false;
        }
        return IPAddress.IsLoopback(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip);
    }

    /// <summary>A <c>--trusted-proxy</c> value: one address, or a CIDR network.</summary>
    public static bool TryParseProxy(string value, out IPAddress? address, out IPNetwork? network)
    {
        address = null;
        network = null;
        if (value.Contains('/', StringComparison.Ordinal))
        {
            if (IPNetwork.TryParse(value, out var parsed))
            {
                network = parsed;
                return true;
            }
            return false;
        }
        // IPAddress.TryParse also takes "10" (0.0.0.10) and "10.1" — typos, not addresses anyone means.
        if (IPAddress.TryParse(value, out var ip) && (ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || value.Count(c => c == '.') == 3))
        {
            address = ip;
            return true;
        }
        return false;
    }
}
