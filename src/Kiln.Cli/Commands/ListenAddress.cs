using System.Net;
using System.Net.Sockets;

namespace Kiln.Cli.Commands;

/// <summary>
/// Checks that the listen address is free before anything else starts (database, migrations),
/// so a busy port is one line and leaves nothing behind, instead of Kestrel's stack trace after
/// the database was created.
/// </summary>
public static class ListenAddress
{
    /// <summary>The first URL of <paramref name="urls"/> whose port another program holds, else null.</summary>
    public static string? FirstBusy(string urls)
    {
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri)
                || uri.Port <= 0)
            {
                continue;
            }
            var address = uri.Host == "localhost" ? IPAddress.Loopback : IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) ? ip : null;
            if (address is null)
            {
                continue;
            }
            try
            {
                using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                probe.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                probe.Bind(new IPEndPoint(address, uri.Port));
                probe.Listen();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                return url;
            }
            catch (SocketException)
            {
                // Not ours to judge (e.g. an address of another machine); the server reports it.
            }
        }
        return null;
    }
}
