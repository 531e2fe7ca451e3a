using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;

namespace Kiln.Server.Hosting;

/// <summary>
/// How the server's connections are secured: refuses what <see cref="ListenPolicy"/> refuses,
/// gives Kestrel the PEM certificate for https:// URLs, and — behind a reverse proxy — takes
/// the client's address and scheme from X-Forwarded-For/-Proto sent by trusted proxies only,
/// so a direct caller cannot pass itself off as another address (rate limits and the audit
/// log key on it).
/// </summary>
public static class TlsSetup
{
    /// <summary>
    /// Called first thing by <see cref="KilnServerHost.StartAsync"/>, before any database is
    /// touched. Throws <see cref="ListenRefusedException"/> with a one-line message.
    /// </summary>
    public static void Apply(WebApplicationBuilder builder, KilnServerOptions options)
    {
        if (ListenPolicy.Refusal(options) is { } refusal)
        {
            throw new ListenRefusedException(refusal);
        }
        if (options.TlsCertificateFile is { Length: > 0 } certFile)
        {
            var (certificate, chain) = LoadCertificate(certFile, options.TlsKeyFile!);
            // The slim builder leaves https:// URLs unsupported unless asked for.
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(https =>
            {
                https.ServerCertificate = certificate;
                https.ServerCertificateChain = chain;
            }));
        }
        if (options.BehindProxy)
        {
            builder.Services.Configure<ForwardedHeadersOptions>(o => TrustProxies(o, options.TrustedProxies));
            // First in the pipeline, whatever the host adds later (authentication, rate limits): they see the client's address.
            builder.Services.AddTransient<IStartupFilter, ForwardedHeadersFirst>();
        }
    }

    /// <summary>
    /// The leaf certificate with its key, re-imported from PKCS#12 so the key is a persisted one
    /// (a key straight from PEM is ephemeral, which TLS stacks do not all accept), and the
    /// intermediates that follow it in the chain file, sent to clients with it.
    /// </summary>
    public static (X509Certificate2 Certificate, X509Certificate2Collection Chain) LoadCertificate(string certFile, string keyFile)
    {
        foreach (var (option, file) in (ReadOnlySpan<(string, string)>)[("--tls-cert", certFile), ("--tls-key", keyFile)])
        {
            if (!File.Exists(file))
            {
                throw new ListenRefusedException($"{option} {file}: no such file");
            }
        }
        try
        {
            using var fromPem = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            var certificate = X509CertificateLoader.LoadPkcs12(fromPem.Export(X509ContentType.Pkcs12), password: null);
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(certFile);
            var chain = new X509Certificate2Collection();
            foreach (var extra in all.Skip(1))
            {
                chain.Add(extra);
            }
            all[0].Dispose();
            return (certificate, chain);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new ListenRefusedException(
                $"cannot use --tls-cert {certFile} with --tls-key {keyFile}: {e.Message.TrimEnd('.')} (both must be PEM, the key the certificate's own)", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ListenRefusedException($"cannot read --tls-cert {certFile} or --tls-key {keyFile}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The URL clients and local workers should use for the address Kestrel bound
    /// (<paramref name="bound"/>): a wildcard IPv6 binding becomes 127.0.0.1, and when the
    /// operator gave a host name (<c>https://farm.example.org:8443</c>, which Kestrel binds on
    /// every interface and reports as <c>[::]</c>) that name is kept — a TLS certificate names
    /// the host, so a client dialling 127.0.0.1 would refuse it.
    /// </summary>
    public static string AdvertisedUrl(string listenUrls, string bound)
    {
        var local = bound.Replace("[::]", "127.0.0.1", StringComparison.Ordinal);
        BindingAddress boundAddress;
        try
        {
            boundAddress = BindingAddress.Parse(bound);
        }
        catch (FormatException)
        {
            return local;
        }
        foreach (var url in listenUrls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var asked = BindingAddress.Parse(url);
            var named = !asked.IsUnixPipe && !asked.IsNamedPipe && asked.Host is not ("*" or "+")
                && !string.Equals(asked.Host, "localhost", StringComparison.OrdinalIgnoreCase)
                && !IPAddress.TryParse(asked.Host.Trim('[', ']'), out _);
            if (named && asked.Port == boundAddress.Port && string.Equals(asked.Scheme, boundAddress.Scheme, StringComparison.OrdinalIgnoreCase))
            {
                return $"{boundAddress.Scheme}://{asked.Host}:{boundAddress.Port}";
            }
        }
        return local;
    }

    /// <summary>X-Forwarded-For and -Proto, from loopback unless <paramref name="trusted"/> names the proxies instead.</summary>
    public static void TrustProxies(ForwardedHeadersOptions o, IReadOnlyList<string> trusted)
    {
        o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
        // Walk back through X-Forwarded-For while each hop is a trusted proxy (a CDN in front of
        // nginx); the first address a trusted hop vouches for that is not itself trusted is the client.
        o.ForwardLimit = null;
        if (trusted.Count == 0)
        {
            return; // The defaults: 127.0.0.0/8 and ::1.
        }
        o.KnownProxies.Clear();
        o.KnownIPNetworks.Clear();
        foreach (var value in trusted)
        {
            _ = ListenPolicy.TryParseProxy(value, out var address, out var network);
            if (address is not null)
            {
                o.KnownProxies.Add(address);
            }
            else if (network is { } n)
            {
                o.KnownIPNetworks.Add(n);
            }
        }
    }

    private sealed class ForwardedHeadersFirst : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.UseForwardedHeaders();
            next(app);
        };
    }
}
