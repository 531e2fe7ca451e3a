using Kiln.Server.Hosting;

namespace Kiln.Engine.Tests;

/// <summary>Where the server may listen in plain http, and what https and proxies need (no database, no sockets).</summary>
public sealed class ListenPolicyTests
{
    private static KilnServerOptions Listen(string urls, bool tls = false, bool behindProxy = false, params string[] trustedProxies) => new()
    {
        Urls = urls,
        TlsCertificateFile = tls ? "/etc/kiln/cert.pem" : null,
        TlsKeyFile = tls ? "/etc/kiln/key.pem" : null,
        BehindProxy = behindProxy,
        TrustedProxies = trustedProxies,
    };

    [Theory]
    [InlineData("http://127.0.0.1:8080")]
    [InlineData("http://127.0.0.1:0")]
    [InlineData("http://127.1.2.3:8080")]
    [InlineData("http://[::1]:8080")]
    [InlineData("http://[::ffff:127.0.0.1]:8080")]
    [InlineData("http://localhost:8080")]
    [InlineData("HTTP://LOCALHOST:8080")]
    [InlineData("http://unix:/run/kiln/kiln.sock")]
    [InlineData("http://127.0.0.1:8080; http://[::1]:8080")]
    public void Plain_http_on_loopback_is_allowed(string urls)
    {
        Assert.Null(ListenPolicy.Refusal(Listen(urls)));
    }

    [Theory]
    [InlineData("http://0.0.0.0:8080")]
    [InlineData("http://[::]:8080")]
    [InlineData("http://*:8080")]
    [InlineData("http://+:8080")]
    [InlineData("http://192.0.2.10:8080")]
    [InlineData("http://[2001:db8::1]:8080")]
    [InlineData("http://farm.example.org:8080")]
    [InlineData("http://localhost.example.org:8080")]
    public void Plain_http_beyond_loopback_is_refused_and_the_message_says_what_to_do(string url)
    {
        var refusal = ListenPolicy.Refusal(Listen(url));
        Assert.NotNull(refusal);
        Assert.StartsWith($"refusing to listen on {url} without TLS", refusal, StringComparison.Ordinal);
        Assert.Contains("--tls-cert and --tls-key", refusal, StringComparison.Ordinal);
        Assert.Contains("--behind-proxy", refusal, StringComparison.Ordinal);
        // A certificate does not make plain http safe: it is only used for https:// URLs.
        Assert.NotNull(ListenPolicy.Refusal(Listen($"{url};https://127.0.0.1:8443", tls: true)));
    }

    [Fact]
    public void One_exposed_url_in_a_list_is_enough_to_refuse()
    {
        var refusal = ListenPolicy.Refusal(Listen("http://127.0.0.1:8080;http://0.0.0.0:9090"));
        Assert.NotNull(refusal);
        Assert.Contains("http://0.0.0.0:9090", refusal, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://0.0.0.0:8080")]
    [InlineData("http://[::]:8080")]
    [InlineData("http://*:8080")]
    [InlineData("http://192.0.2.10:8080")]
    public void Behind_a_proxy_plain_http_may_listen_anywhere(string url)
    {
        Assert.Null(ListenPolicy.Refusal(Listen(url, behindProxy: true)));
    }

    [Theory]
    [InlineData("https://0.0.0.0:8443")]
    [InlineData("https://[::]:8443")]
    [InlineData("https://+:8443")]
    [InlineData("https://farm.example.org:8443")]
    [InlineData("https://127.0.0.1:8443")]
    [InlineData("http://127.0.0.1:8080;https://0.0.0.0:8443")]
    public void Https_with_a_certificate_may_listen_anywhere(string urls)
    {
        Assert.Null(ListenPolicy.Refusal(Listen(urls, tls: true)));
    }

    [Theory]
    [InlineData("https://127.0.0.1:8443", false)]
    [InlineData("https://0.0.0.0:8443", false)]
    [InlineData("https://0.0.0.0:8443", true)]
    public void Https_without_a_certificate_is_refused_even_behind_a_proxy(string url, bool behindProxy)
    {
        var refusal = ListenPolicy.Refusal(Listen(url, behindProxy: behindProxy));
        Assert.Equal($"{url} needs a certificate: give --tls-cert and --tls-key (PEM files)", refusal);
    }

    [Fact]
    public void A_certificate_without_its_key_or_a_key_without_its_certificate_is_refused()
    {
        var certOnly = Listen("https://0.0.0.0:8443", tls: true) with { TlsKeyFile = null };
        var keyOnly = Listen("https://0.0.0.0:8443", tls: true) with { TlsCertificateFile = "" };
        Assert.Contains("go together", ListenPolicy.Refusal(certOnly), StringComparison.Ordinal);
        Assert.Contains("go together", ListenPolicy.Refusal(keyOnly), StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_no_url_would_use_is_refused_rather_than_ignored()
    {
        var refusal = ListenPolicy.Refusal(Listen("http://127.0.0.1:8080", tls: true));
        Assert.Contains("no --urls address is https://", refusal, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:8080")]
    [InlineData("")]
    [InlineData(" ; ")]
    [InlineData("ftp://0.0.0.0:21")]
    [InlineData("http://127.0.0.1:notaport")]
    public void A_listen_address_that_is_not_one_is_refused_naming_it(string urls)
    {
        var refusal = ListenPolicy.Refusal(Listen(urls));
        Assert.NotNull(refusal);
        Assert.True(refusal.Contains(urls.Trim(), StringComparison.Ordinal) || refusal.Contains("--urls is empty", StringComparison.Ordinal), refusal);
    }

    [Theory]
    [InlineData("10.0.0.5")]
    [InlineData("10.0.0.0/24")]
    [InlineData("2001:db8::7")]
    [InlineData("2001:db8::/32")]
    public void Trusted_proxies_are_addresses_or_networks(string proxy)
    {
        Assert.Null(ListenPolicy.Refusal(Listen("http://0.0.0.0:8080", false, true, proxy)));
    }

    [Theory]
    [InlineData("10")]
    [InlineData("10.0.0")]
    [InlineData("proxy.example.org")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/")]
    public void A_trusted_proxy_that_is_no_address_is_refused_naming_it(string proxy)
    {
        var refusal = ListenPolicy.Refusal(Listen("http://0.0.0.0:8080", false, true, proxy));
        Assert.Equal($"--trusted-proxy '{proxy}' is not an IP address or a CIDR network (e.g. 10.0.0.5 or 10.0.0.0/24)", refusal);
    }

    [Fact]
    public void Trusted_proxies_without_behind_proxy_are_refused()
    {
        Assert.Contains("--behind-proxy", ListenPolicy.Refusal(Listen("http://127.0.0.1:8080", trustedProxies: "10.0.0.5")), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://farm.example.org:8443", "https://[::]:8443", "https://farm.example.org:8443")]
    [InlineData("http://127.0.0.1:8080;https://farm.example.org:8443", "https://[::]:8443", "https://farm.example.org:8443")]
    [InlineData("http://127.0.0.1:0", "http://127.0.0.1:41234", "http://127.0.0.1:41234")]
    [InlineData("http://[::]:8080", "http://[::]:8080", "http://127.0.0.1:8080")]
    [InlineData("http://0.0.0.0:8080", "http://0.0.0.0:8080", "http://0.0.0.0:8080")]
    [InlineData("http://localhost:8080", "http://localhost:8080", "http://localhost:8080")]
    public void The_advertised_url_keeps_the_host_name_a_certificate_would_name(string urls, string bound, string advertised)
    {
        Assert.Equal(advertised, TlsSetup.AdvertisedUrl(urls, bound));
    }
}
