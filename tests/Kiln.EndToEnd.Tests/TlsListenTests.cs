using System.Globalization;
using System.Net;
using Kiln.Testing;

namespace Kiln.EndToEnd.Tests;

/// <summary>
/// <c>kiln server</c> and <c>kiln up</c> as an operator starts them: plain http beyond loopback
/// is refused before anything is created, and with a certificate the server speaks TLS.
/// </summary>
public sealed class TlsListenTests
{
    [Theory]
    [InlineData("server")]
    [InlineData("up")]
    public async Task Plain_http_on_all_interfaces_is_refused_with_exit_code_2_and_nothing_is_created(string command)
    {
        var dataDir = Directory.CreateTempSubdirectory("kiln-e2e-exposed-").FullName;
        try
        {
            var url = $"http://0.0.0.0:{Farm.FreePort()}";
            var (exit, stdout, stderr) = await KilnProcess.RunSplitAsync([command, "--data-dir", dataDir, "--urls", url]);
            Assert.True(exit == 2, $"exit {exit}\n{stdout}\n{stderr}");
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal($"kiln {command}: refusing to listen on {url} without TLS: anyone who can reach it would see tokens in clear; "
                + "give --tls-cert and --tls-key, use an https:// URL, or pass --behind-proxy if a reverse proxy terminates TLS", line);
            Assert.False(Directory.Exists(Path.Combine(dataDir, "postgres")), "the database was created before the address was checked");
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task The_environment_says_the_same_as_the_options()
    {
        var dataDir = Directory.CreateTempSubdirectory("kiln-e2e-exposed-env-").FullName;
        try
        {
            var (exit, _, stderr) = await KilnProcess.RunSplitAsync(["server", "--data-dir", dataDir],
                new Dictionary<string, string> { ["KILN_URLS"] = $"https://0.0.0.0:{Farm.FreePort()}", ["KILN_TLS_CERT"] = "/nonexistent/cert.pem", ["KILN_TLS_KEY"] = "/nonexistent/key.pem" });
            Assert.True(exit == 2, stderr);
            Assert.Equal("kiln server: --tls-cert /nonexistent/cert.pem: no such file", stderr.Trim());
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task A_key_that_is_not_the_certificates_is_one_line_and_exit_code_2()
    {
        using var cert = SelfSignedCertificate.Create();
        using var other = SelfSignedCertificate.Create();
        var database = await TestCluster.CreateDatabaseAsync(nameof(A_key_that_is_not_the_certificates_is_one_line_and_exit_code_2));
        var dataDir = Directory.CreateTempSubdirectory("kiln-e2e-badkey-").FullName;
        try
        {
            var (exit, stdout, stderr) = await KilnProcess.RunSplitAsync([
                "server", "--database", database, "--data-dir", dataDir, "--urls", $"https://127.0.0.1:{Farm.FreePort()}",
                "--tls-cert", cert.CertFile, "--tls-key", other.KeyFile]);
            Assert.True(exit == 2, $"exit {exit}\n{stdout}\n{stderr}");
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"kiln server: cannot use --tls-cert {cert.CertFile} with --tls-key {other.KeyFile}: ", line, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task With_a_certificate_the_server_listens_on_all_interfaces_over_tls()
    {
        using var cert = SelfSignedCertificate.Create();
        var database = await TestCluster.CreateDatabaseAsync(nameof(With_a_certificate_the_server_listens_on_all_interfaces_over_tls));
        var dataDir = Directory.CreateTempSubdirectory("kiln-e2e-tls-").FullName;
        var port = Farm.FreePort().ToString(CultureInfo.InvariantCulture);
        var server = KilnProcess.Start([
            "server", "--database", database, "--data-dir", dataDir, "--urls", $"https://0.0.0.0:{port}",
            "--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile, "--worker-token", Farm.Token]);
        try
        {
            using var client = cert.TrustingClient(new Uri($"https://127.0.0.1:{port}"));
            HttpResponseMessage? health = null;
            await Eventually.TrueAsync(async () =>
            {
                if (server.HasExited)
                {
                    throw new InvalidOperationException($"the server exited with {server.ExitCode}:\n{server.Output}");
                }
                try
                {
                    health = await client.GetAsync(new Uri("/healthz", UriKind.Relative));
                    return true;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, Farm.Patience, "the server to answer over TLS");
            using (health)
            {
                Assert.Equal(HttpStatusCode.OK, health!.StatusCode);
                Assert.Contains("\"ok\"", await health.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            // The CLI, trusting the certificate the way an operator would on Linux (SSL_CERT_FILE), talks to it.
            var (exit, stdout, stderr) = await KilnProcess.RunSplitAsync(["status", "--server", $"https://127.0.0.1:{port}"],
                new Dictionary<string, string> { ["SSL_CERT_FILE"] = cert.CertFile });
            Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");

            // Plain http to the TLS port gets nothing useful: there is no clear-text way in.
            using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var clear = await Record.ExceptionAsync(async () =>
            {
                using var answer = await plain.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"));
                Assert.NotEqual(HttpStatusCode.OK, answer.StatusCode);
            });
            Assert.True(clear is null or HttpRequestException, clear?.ToString());
        }
        finally
        {
            await server.DisposeAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
