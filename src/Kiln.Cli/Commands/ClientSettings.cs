using System.CommandLine;
using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.Cli.Commands;

/// <summary>
/// Where the server is and which token to use, from the first place that says: the option, the
/// environment (<c>KILN_URL</c>, <c>KILN_TOKEN</c>), a config file (<c>$KILN_CONFIG</c>, else
/// <c>./.kiln/client.json</c> as written by <c>kiln up</c>, else <c>~/.config/kiln/config.json</c>
/// as written by <c>kiln login</c>), then <c>http://127.0.0.1:8080</c>. Client commands send the
/// API token (<c>kiln_pat_…</c>); <c>kiln worker</c> registers with the registration token
/// (<c>kiln_reg_…</c>: <c>--token-file</c>, <c>KILN_TOKEN</c>, else the config file's <c>registrationToken</c>).
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

    /// <summary>The worker registration token: the option, else <c>KILN_TOKEN</c>, else the config file's.</summary>
    public static string? Token(string? option) => option ?? Env("KILN_TOKEN") ?? Config()?.RegistrationToken;

    /// <summary>The API token client commands send: <c>KILN_TOKEN</c>, else the config file's.</summary>
    public static string? ApiToken() => Env("KILN_TOKEN") ?? Config()?.Token;

    /// <summary>A client of <paramref name="server"/> that sends the API token, if there is one.</summary>
    public static KilnClient Connect(Uri server) => new(server, ApiToken());

    /// <summary>The API token in the config file of <paramref name="dataDirectory"/>, if it has one.</summary>
    public static string? LocalToken(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, "client.json");
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<ConfigFile>(File.ReadAllText(path), KilnClient.Json)?.Token : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes the client config <c>kiln up</c> leaves for commands run from the same directory (mode 0600).</summary>
    public static void WriteLocal(string dataDirectory, string server, string token, string registrationToken) =>
        WriteConfig(Path.Combine(dataDirectory, "client.json"), new ConfigFile(server, token, registrationToken));

    /// <summary>Where <c>kiln login</c> keeps the server and token: <c>$XDG_CONFIG_HOME/kiln/config.json</c> (else <c>~/.config/kiln/</c>).</summary>
    public static string UserConfigFile()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(Env("XDG_CONFIG_HOME") ?? Path.Combine(home, ".config"), "kiln", "config.json");
    }

    /// <summary>Writes a config file readable by its owner only, created so (never briefly world-readable).</summary>
    public static void WriteConfig(string path, ConfigFile config)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Kiln runs on Linux");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        File.Delete(temporary);
        using (var file = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            JsonSerializer.Serialize(file, config, KilnClient.Json);
        }
        File.Move(temporary, path, overwrite: true);
    }

    private static ConfigFile? Config()
    {
        var candidates = Env("KILN_CONFIG") is { } explicitPath
            ? [explicitPath]
            : new[] { LocalConfigFile, UserConfigFile() };
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

    /// <summary>A client config file: the server, the user's API token, and (kiln up's) the registration token for local workers.</summary>
    public sealed record ConfigFile(string? Server, string? Token, string? RegistrationToken = null);
}
