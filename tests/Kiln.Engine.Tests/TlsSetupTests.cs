using Kiln.Server.Hosting;
using Kiln.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kiln.Engine.Tests;

/// <summary>
/// The certificate files an operator gives, and whose X-Forwarded-For is believed behind a
/// proxy — over real Kestrel on 127.0.0.1, with the same setup <see cref="KilnServerHost"/> uses.
/// </summary>
public sealed class TlsSetupTests
{
    [Fact]
    public void A_missing_certificate_or_key_file_is_one_line_naming_it()
    {
        using var cert = SelfSignedCertificate.Create();
        var e = Assert.Throws<ListenRefusedException>(() => TlsSetup.LoadCertificate("/nonexistent/cert.pem", cert.KeyFile));
        Assert.Equal("--tls-cert /nonexistent/cert.pem: no such file", e.Message);
        e = Assert.Throws<ListenRefusedException>(() => TlsSetup.LoadCertificate(cert.CertFile, "/nonexistent/key.pem"));
        Assert.Equal("--tls-key /nonexistent/key.pem: no such file", e.Message);
    }

    [Fact]
    public void The_key_of_another_certificate_is_refused()
    {
        using var cert = SelfSignedCertificate.Create();
        using var other = SelfSignedCertificate.Create();
        var e = Assert.Throws<ListenRefusedException>(() => TlsSetup.LoadCertificate(cert.CertFile, other.KeyFile));
        Assert.StartsWith($"cannot use --tls-cert {cert.CertFile} with --tls-key {other.KeyFile}: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Files_that_are_not_pem_are_refused()
    {
        using var cert = SelfSignedCertificate.Create();
        var garbage = Path.Combine(Path.GetDirectoryName(cert.CertFile)!, "garbage.pem");
        File.WriteAllText(garbage, "this is not a certificate\n");
        Assert.StartsWith("cannot use --tls-cert", Assert.Throws<ListenRefusedException>(() => TlsSetup.LoadCertificate(garbage, cert.KeyFile)).Message, StringComparison.Ordinal);
        Assert.StartsWith("cannot use --tls-cert", Assert.Throws<ListenRefusedException>(() => TlsSetup.LoadCertificate(cert.CertFile, garbage)).Message, StringComparison.Ordinal);
        // The certificate where its key should be: a common mix-up.
        Assert.StartsWith("cannot use --tls-cert", Assert.Throws<ListenRefusedException>(() => TlsSetup.LoadCertificate(cert.CertFile, cert.CertFile)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_leaf_carries_its_key_and_the_certificates_after_it_are_its_chain()
    {
        using var cert = SelfSignedCertificate.Create("leaf");
        using var intermediate = SelfSignedCertificate.Create("intermediate");
        File.AppendAllText(cert.CertFile, File.ReadAllText(intermediate.CertFile));
        var (leaf, chain) = TlsSetup.LoadCertificate(cert.CertFile, cert.KeyFile);
        using (leaf)
        {
            Assert.True(leaf.HasPrivateKey);
            Assert.Equal("CN=leaf", leaf.Subject);
            Assert.Equal("CN=intermediate", Assert.Single(chain).Subject);
        }
    }

    [Fact]
    public async Task Behind_a_loopback_proxy_the_client_address_and_scheme_come_from_its_forwarded_headers()
    {
        await using var app = await StartEchoAsync(behindProxy: true);
        Assert.Equal("203.0.113.7 https", await WhoAsync(app, "203.0.113.7", "https"));
    }

    [Fact]
    public async Task A_client_cannot_choose_its_address_through_a_trusted_proxy_by_sending_its_own_header()
    {
        // What nginx's $proxy_add_x_forwarded_for sends when the client brought its own header:
        // the client's forged entry, then the address nginx saw. The forged one must not win.
        await using var app = await StartEchoAsync(behindProxy: true);
        Assert.Equal("203.0.113.7 https", await WhoAsync(app, "127.0.0.1, 198.51.100.1, 203.0.113.7", "https"));
    }

    [Fact]
    public async Task A_caller_that_is_not_a_trusted_proxy_cannot_choose_its_client_address()
    {
        // Naming the proxy replaces loopback, so this loopback caller is the untrusted direct caller.
        await using var app = await StartEchoAsync(behindProxy: true, "192.0.2.1");
        Assert.Equal("127.0.0.1 http", await WhoAsync(app, "203.0.113.7", "https"));
    }

    [Fact]
    public async Task Without_behind_proxy_forwarded_headers_are_ignored_even_from_loopback()
    {
        await using var app = await StartEchoAsync(behindProxy: false);
        Assert.Equal("127.0.0.1 http", await WhoAsync(app, "203.0.113.7", "https"));
    }

    private static async Task<WebApplication> StartEchoAsync(bool behindProxy, params string[] trustedProxies)
    {
        var options = new KilnServerOptions { Urls = "http://127.0.0.1:0", BehindProxy = behindProxy, TrustedProxies = trustedProxies };
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.ClearProviders();
        TlsSetup.Apply(builder, options);
        var app = builder.Build();
        app.MapGet("/who", (HttpContext c) => $"{c.Connection.RemoteIpAddress} {c.Request.Scheme}");
        await app.StartAsync();
        return app;
    }

    private static async Task<string> WhoAsync(WebApplication app, string forwardedFor, string forwardedProto)
    {
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/who");
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", forwardedFor);
        request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", forwardedProto);
        using var response = await client.SendAsync(request);
        return await response.Content.ReadAsStringAsync();
    }
}
