using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Kiln.Contracts;

namespace Kiln.EndToEnd.Tests;

/// <summary>Signing in and managing tokens through the real <c>kiln</c> executable, with its own home directory.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LoginCliTests(IsolatedServerFixture server) : IClassFixture<IsolatedServerFixture>
{
    [Fact]
    public async Task Login_from_stdin_keeps_the_token_in_a_0600_file_and_token_create_list_revoke_work_with_it()
    {
        var home = Directory.CreateTempSubdirectory("kiln-login-").FullName;
        try
        {
            var login = await RunAsync(home, server.AdminToken + "\n", "login", "--server", server.Host.Url);
            Assert.True(login.Exit == 0, login.Stderr);
            var config = Path.Combine(home, "config", "kiln", "config.json");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
            Assert.Contains(server.AdminToken, await File.ReadAllTextAsync(config), StringComparison.Ordinal);
            Assert.DoesNotContain(server.AdminToken, login.Stdout + login.Stderr, StringComparison.Ordinal);

            // No --server, no KILN_TOKEN: both come from the file login wrote.
            var whoami = await RunAsync(home, null, "whoami", "--json");
            Assert.True(whoami.Exit == 0, whoami.Stderr);
            Assert.Equal("admin", JsonSerializer.Deserialize<WhoAmIView>(whoami.Stdout, KilnClient.Json)!.Name);

            var created = await RunAsync(home, null, "token", "create", "--comment", "e2e", "--scope", "read", "--expires", "30d");
            Assert.True(created.Exit == 0, created.Stderr);
            var token = created.Stdout.Trim();
            Assert.StartsWith("kiln_pat_", token, StringComparison.Ordinal);
            Assert.Contains("only time it is shown", created.Stderr, StringComparison.Ordinal);

            var listed = await RunAsync(home, null, "token", "list", "--json");
            Assert.True(listed.Exit == 0, listed.Stderr);
            Assert.DoesNotContain(token, listed.Stdout, StringComparison.Ordinal);
            var view = JsonSerializer.Deserialize<List<TokenView>>(listed.Stdout, KilnClient.Json)!.Single(t => t.Comment == "e2e");
            Assert.Equal(["read"], view.Scopes);
            Assert.NotNull(view.ExpiresAt);

            var revoked = await RunAsync(home, null, "token", "revoke", view.Id.ToString(CultureInfo.InvariantCulture));
            Assert.True(revoked.Exit == 0, revoked.Stderr);
            // The stored (admin) token still works; the revoked one is refused.
            Assert.Equal(0, (await RunAsync(home, null, "whoami")).Exit);
            var withRevoked = await RunAsync(home, null, ["whoami"], new() { ["KILN_TOKEN"] = token });
            Assert.Equal(1, withRevoked.Exit);
            Assert.Contains("revoked", withRevoked.Stderr, StringComparison.Ordinal);

            var logout = await RunAsync(home, null, "logout");
            Assert.True(logout.Exit == 0, logout.Stderr);
            Assert.False(File.Exists(config));
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact]
    public async Task Login_refuses_a_registration_token_and_an_empty_input_with_one_line()
    {
        var home = Directory.CreateTempSubdirectory("kiln-login-").FullName;
        try
        {
            var empty = await RunAsync(home, "\n", "login", "--server", server.Host.Url);
            Assert.Equal(1, empty.Exit);
            Assert.Contains("no token given", empty.Stderr, StringComparison.Ordinal);
            var wrong = await RunAsync(home, "kiln_pat_nonsense\n", "login", "--server", server.Host.Url);
            Assert.Equal(1, wrong.Exit);
            Assert.Single(wrong.Stderr.Trim().Split('\n'));
            Assert.False(File.Exists(Path.Combine(home, "config", "kiln", "config.json")));
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(string home, string? input, params string[] args) =>
        RunAsync(home, input, args, []);

    /// <summary>
    /// Runs <c>kiln</c> with <paramref name="home"/> as its home and config directory, in that
    /// directory (no ./.kiln/client.json), with no token or config in its environment unless given.
    /// </summary>
    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string home, string? input, string[] args, Dictionary<string, string> env)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = home,
        };
        psi.ArgumentList.Add(KilnProcess.CliPath);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var name in (string[])["KILN_URL", "KILN_TOKEN", "KILN_CONFIG"])
        {
            psi.Environment.Remove(name);
        }
        psi.Environment["HOME"] = home;
        psi.Environment["XDG_CONFIG_HOME"] = Path.Combine(home, "config");
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(input ?? "");
        process.StandardInput.Close();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(bound.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
