namespace Kiln.EndToEnd.Tests;

/// <summary>
/// A farm started the way the README starts one: <c>kiln up</c> run in a directory of its own
/// (a copy of <c>examples/</c> beside it), with its managed PostgreSQL, server and two local
/// workers, and client commands run from that directory finding it through
/// <c>.kiln/client.json</c>.
/// </summary>
public sealed class LocalFarm : IAsyncLifetime
{
    /// <summary>Environment for commands that should find the farm as a user's would: through ./.kiln/client.json.</summary>
    public static readonly IReadOnlyDictionary<string, string> UseLocalConfig = new Dictionary<string, string> { ["KILN_CONFIG"] = "" };

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("kiln-e2e-up-").FullName;

    public string Url { get; } = $"http://127.0.0.1:{Farm.FreePort()}";

    public KilnProcess Up { get; private set; } = null!;

    public Kiln.Contracts.KilnClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // When root, the managed PostgreSQL runs as 'postgres' and must be able to reach its directory.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Directory, (UnixFileMode)0b111_101_101);
        }
        CopyDirectory(Path.Combine(KilnProcess.RepositoryRoot, "examples"), Path.Combine(Directory, "examples"));
        Up = KilnProcess.Start(["up", "--urls", Url, "--workers", "2"], UseLocalConfig, Directory);
        Client = new Kiln.Contracts.KilnClient(new Uri(Url));
        await Eventually.TrueAsync(() => Up.HasExited || Up.Output.Contains("Kiln is up", StringComparison.Ordinal), TimeSpan.FromMinutes(3), "'kiln up' to start");
        if (Up.HasExited)
        {
            throw new InvalidOperationException($"'kiln up' exited with {Up.ExitCode}:\n{Up.Output}");
        }
        // Signed in as the README's user is: with the admin token 'kiln up' wrote to its client config.
        using var config = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Directory, ".kiln", "client.json")));
        Client.Dispose();
        Client = new Kiln.Contracts.KilnClient(new Uri(Url), config.RootElement.GetProperty("token").GetString());
    }

    /// <summary>A client command run from the farm's directory, as a user in the README's second terminal runs it.</summary>
    public async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        await using var process = KilnProcess.Start(args, UseLocalConfig, Directory);
        await process.WaitForExitAsync(TimeSpan.FromMinutes(4));
        return (process.ExitCode, process.Output);
    }

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (Up is not null)
        {
            if (!Up.HasExited)
            {
                Up.Signal(2);
                try
                {
                    await Up.WaitForExitAsync(TimeSpan.FromSeconds(90));
                }
                catch (TimeoutException)
                {
                    // DisposeAsync kills the tree.
                }
            }
            await Up.DisposeAsync();
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A straggler still writing; /tmp is cleaned eventually.
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
        foreach (var sub in System.IO.Directory.EnumerateDirectories(from))
        {
            CopyDirectory(sub, Path.Combine(to, Path.GetFileName(sub)));
        }
    }
}
