using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Kiln.Testing;

/// <summary>
/// A throwaway TLS certificate for 127.0.0.1 and localhost, written as the PEM files an operator
/// would give <c>--tls-cert</c>/<c>--tls-key</c>, and HTTP clients that trust exactly it.
/// </summary>
public sealed class SelfSignedCertificate : IDisposable
{
    private readonly string _directory;

    private SelfSignedCertificate(string directory, string thumbprint)
    {
        _directory = directory;
        Sha256Thumbprint = thumbprint;
    }

    public string CertFile => Path.Combine(_directory, "cert.pem");

    public string KeyFile => Path.Combine(_directory, "key.pem");

    public string Sha256Thumbprint { get; }

    public static SelfSignedCertificate Create(string subject = "kiln-test")
    {
        var directory = Directory.CreateTempSubdirectory("kiln-tls-").FullName;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var now = TimeProvider.System.GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));
        var result = new SelfSignedCertificate(directory, certificate.GetCertHashString(HashAlgorithmName.SHA256));
        File.WriteAllText(result.CertFile, certificate.ExportCertificatePem() + "\n");
        File.WriteAllText(result.KeyFile, key.ExportPkcs8PrivateKeyPem() + "\n");
        return result;
    }

    /// <summary>An HTTP client that accepts this certificate, by its SHA-256 thumbprint, and no other.</summary>
    public HttpClient TrustingClient(Uri baseAddress) => new(new SocketsHttpHandler
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) =>
            presented is not null && string.Equals(presented.GetCertHashString(HashAlgorithmName.SHA256), Sha256Thumbprint, StringComparison.OrdinalIgnoreCase) },
    })
    { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Left in /tmp.
        }
    }
}
