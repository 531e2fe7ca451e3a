using System.Collections.Concurrent;

namespace Kiln.Testing;

/// <summary>
/// The first admin's token of every server the tests started, by URL, so that a client command
/// a test runs with <c>--server URL</c> signs in as that farm's admin unless the test says
/// otherwise (its own <c>KILN_TOKEN</c>).
/// </summary>
public static class AdminTokens
{
    private static readonly ConcurrentDictionary<string, string> ByUrl = new(StringComparer.Ordinal);

    public static void Register(string url, string token) => ByUrl[url.TrimEnd('/')] = token;

    /// <summary>The admin token for the server a command line names with <c>--server</c>/<c>-s</c>, if a test started it.</summary>
    public static string? ForCommandLine(IReadOnlyList<string> args)
    {
        // 'kiln worker --…' is the worker agent, which registers with a registration token.
        if (args.Count > 1 && args[0] == "worker" && args[1].StartsWith('-'))
        {
            return null;
        }
        for (var i = 0; i + 1 < args.Count; i++)
        {
            if ((args[i] == "--server" || args[i] == "-s") && ByUrl.TryGetValue(args[i + 1].TrimEnd('/'), out var token))
            {
                return token;
            }
        }
        return null;
    }
}
