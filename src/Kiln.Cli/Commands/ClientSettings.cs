using System.CommandLine;
using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary>
/// Where the server is and which token to use, from the first place that says: the option, the
/// environment (<c>KILN_URL</c>, <c>KILN_TOKEN</c>), a config file (<c>$KILN_CONFIG</c>, else
/// <c>./.kiln/client.json</c> as written by <c>kiln up</c>, else <c>~/.config/kiln/config.json</c>),
/// then <c>http://127.0.0.1:8080</c>.
/// </summary>
public static class ClientSettings
{
    public const string DefaultServer = "http://127.0.0.1:8080";

    /// <summary>The file <c>kiln up</c> writes beside its data, so commands run from the same directory find the farm.</summary>
    public const string LocalConfigFile = ".kiln/client.json";

    public static Option<string?> ServerOption() => new("--server", "-s")
    {
        Description = "Server URL (default: $KILN_URL, the config file, else " + DefaultServer + ")",
    };

    public static Option<string?> TokenOption() => new("--token")
    {
        Description = "The farm's worker registration token (default: $KILN_TOKEN, else the config file)",
    };

    public static Option<bool> JsonOption() => new("--json") { Description = "Print JSON (the API's own shape) instead of tables" };

    public static Uri Server(string? option)
    {
        var value = option ?? Env("KILN_URL") ?? Config()?.Server ?? DefaultServer;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
        {
            throw new CliException($"'{value}' is not a server URL (expected e.g. {DefaultServer})");
        }
        return uri;
    }

    public static string? Token(string? option) => option ?? Env("KILN_TOKEN") ?? Config()?.Token;

    /// <summary>Writes the client config <c>kiln up</c> leaves for commands run from the same directory.</summary>
    public static void WriteLocal(string dataDirectory, string server, string token)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = Path.Combine(dataDirectory, "client.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new ConfigFile(server, token), KilnClient.Json));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private static ConfigFile? Config()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var candidates = Env("KILN_CONFIG") is { } explicitPath
            ? [explicitPath]
            : new[] { LocalConfigFile, Path.Combine(Env("XDG_CONFIG_HOME") ?? Path.Combine(home, ".config"), "kiln", "config.json") };
        foreach (var path in candidates)
        {
            if (!File.Exists(path))
            {
                continue;
            }
            try
            {
                return JsonSerializer.Deserialize<ConfigFile>(File.ReadAllText(path), KilnClient.Json);
            }
            catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot read the config file {path}: {e.Message}");
            }
        }
        return null;
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    private sealed record ConfigFile(string? Server, string? Token);
}
