namespace Kiln.Server.Repositories;

/// <summary>
/// One OpenPGP signing key per project, made with gpg on the project's first publish in a GnuPG home
/// under DATA_DIR/signing/PROJECT/ (0700, no passphrase) and never sent anywhere: only its public half is
/// exported (key.asc, key.gpg beside the home) and served at /repos/PROJECT/key.asc|key.gpg. Callers hold
/// the project's signing-key lock (an advisory lock in the publish transaction) so one key is made.
/// </summary>
public sealed class SigningKeys(string signingDirectory)
{
    private static readonly TimeSpan GpgTimeout = TimeSpan.FromSeconds(60);

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private string ProjectDirectory(string project) => Path.Combine(signingDirectory, project);

    private string Home(string project) => Path.Combine(ProjectDirectory(project), "gnupg");

    /// <summary>The armored public key, or null when the project has not published yet.</summary>
    public string? ArmoredPath(string project) => Existing(Path.Combine(ProjectDirectory(project), "key.asc"));

    /// <summary>The binary public key (for apt's <c>signed-by=</c>), or null when the project has not published yet.</summary>
    public string? BinaryPath(string project) => Existing(Path.Combine(ProjectDirectory(project), "key.gpg"));

    private static string? Existing(string path) => File.Exists(path) ? path : null;

    /// <summary>The project's key fingerprint, made now when it has none.</summary>
    public async Task<string> EnsureAsync(string project, CancellationToken ct)
    {
        var directory = ProjectDirectory(project);
        var fingerprintFile = Path.Combine(directory, "fingerprint");
        if (File.Exists(fingerprintFile) && ArmoredPath(project) is not null && BinaryPath(project) is not null)
        {
            return (await File.ReadAllTextAsync(fingerprintFile, ct)).Trim();
        }
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Kiln runs on Linux");
        }
        Directory.CreateDirectory(signingDirectory, Private);
        Directory.CreateDirectory(directory, Private);
        var home = Home(project);
        Directory.CreateDirectory(home, Private);
        try
        {
            var fingerprint = await FingerprintAsync(home, ct);
            if (fingerprint is null)
            {
                var uid = $"Kiln {project} <kiln@{System.Environment.MachineName.ToLowerInvariant()}>";
                await GpgAsync(home, ct, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never");
                fingerprint = await FingerprintAsync(home, ct) ?? throw new ToolFailedException("gpg made no key");
            }
            await WriteAsync(Path.Combine(directory, "key.asc"), await GpgBytesAsync(home, ct, "--armor", "--export", fingerprint), ct);
            await WriteAsync(Path.Combine(directory, "key.gpg"), await GpgBytesAsync(home, ct, "--export", fingerprint), ct);
            await WriteAsync(fingerprintFile, System.Text.Encoding.ASCII.GetBytes(fingerprint + "\n"), ct);
            return fingerprint;
        }
        finally
        {
            await StopAgentAsync(home);
        }
    }

    /// <summary>Signs <paramref name="file"/>: a clear-signed copy (<paramref name="clearSigned"/>) and/or an armored detached signature.</summary>
    public async Task SignAsync(string project, string fingerprint, string file, string? clearSigned, string? detached, CancellationToken ct)
    {
        var home = Home(project);
        try
        {
            string[] key = ["--pinentry-mode", "loopback", "--passphrase", "", "--local-user", fingerprint, "--digest-algo", "SHA512"];
            if (clearSigned is not null)
            {
                await GpgAsync(home, ct, [.. key, "--yes", "--output", clearSigned, "--clearsign", file]);
            }
            if (detached is not null)
            {
                await GpgAsync(home, ct, [.. key, "--yes", "--armor", "--output", detached, "--detach-sign", file]);
            }
        }
        finally
        {
            await StopAgentAsync(home);
        }
    }

    private static async Task<string?> FingerprintAsync(string home, CancellationToken ct)
    {
        var listing = await ToolRunner.RunAsync("gpg", ["--homedir", home, "--batch", "--with-colons", "--list-secret-keys"], GpgTimeout, ct);
        return listing.Output.Split('\n').FirstOrDefault(l => l.StartsWith("fpr:", StringComparison.Ordinal))?.Split(':')[9];
    }

    private static Task<string> GpgAsync(string home, CancellationToken ct, params string[] arguments) =>
        ToolRunner.CheckedAsync("gpg", ["--homedir", home, "--batch", "--no-tty", .. arguments], GpgTimeout, ct, Environment(home));

    private static async Task<byte[]> GpgBytesAsync(string home, CancellationToken ct, params string[] arguments)
    {
        // Binary output goes through a file: the runner reads text.
        var output = Path.Combine(home, $"export-{Guid.NewGuid():N}");
        try
        {
            await GpgAsync(home, ct, ["--yes", "--output", output, .. arguments]);
            return await File.ReadAllBytesAsync(output, ct);
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>gpg starts an agent per home; it is stopped after each use so none outlives the publish.</summary>
    private static async Task StopAgentAsync(string home)
    {
        try
        {
            await ToolRunner.RunAsync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"], GpgTimeout, CancellationToken.None, Environment(home));
        }
        catch (Exception e) when (e is ToolMissingException or TimeoutException)
        {
            // Nothing was started, or the agent ends with its home's socket.
        }
    }

    private static Dictionary<string, string> Environment(string home) => new() { ["GNUPGHOME"] = home, ["HOME"] = home };

    private static async Task WriteAsync(string path, byte[] content, CancellationToken ct)
    {
        var temporary = $"{path}.{Guid.NewGuid():N}";
        await File.WriteAllBytesAsync(temporary, content, ct);
        File.Move(temporary, path, overwrite: true);
    }
}
