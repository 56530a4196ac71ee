using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Fabrik.Testing;

/// <summary>
/// A throw-away PKI made in the test: a CA, server certificates for 127.0.0.1/localhost and
/// client certificates, all ECDSA P-256, written as PEM files into a temporary folder.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestCertificates(string name = "Fabrik Test CA")
    {
        Folder = Directory.CreateTempSubdirectory("fabrik-pki-").FullName;
        var request = new CertificateRequest($"CN={name}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaPath = Path.Combine(Folder, "ca.pem");
        File.WriteAllText(CaPath, Ca.ExportCertificatePem());
    }

    public string Folder { get; }

    public X509Certificate2 Ca { get; }

    public string CaPath { get; }

    /// <summary>Issues an intermediate CA under this one (it may sign certificates and CRLs);
    /// returns it with its private key.</summary>
    public X509Certificate2 IssueIntermediate(string subject, byte[] serial)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var issued = request.Create(Ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(20), serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Issues a certificate, signed by this CA or by <paramref name="issuer"/>; returns it
    /// (with its private key) and its PEM file paths.</summary>
    public (X509Certificate2 Certificate, string CertificatePath, string KeyPath) Issue(string subject, bool server, string fileName, X509Certificate2? issuer = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        }
        var serial = RandomNumberGenerator.GetBytes(16);
        using var issued = request.Create(issuer ?? Ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
        var certificate = issued.CopyWithPrivateKey(key);
        var certificatePath = Path.Combine(Folder, fileName + ".crt.pem");
        var keyPath = Path.Combine(Folder, fileName + ".key.pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificate, certificatePath, keyPath);
    }

    /// <summary>Writes a CRL signed by this CA that revokes <paramref name="revoked"/>, as a PEM
    /// file (or DER with <paramref name="der"/>); returns its path.</summary>
    public string WriteCrl(string fileName, IEnumerable<X509Certificate2> revoked, int crlNumber = 1,
        DateTimeOffset? thisUpdate = null, DateTimeOffset? nextUpdate = null, bool der = false)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var certificate in revoked)
        {
            builder.AddEntry(certificate, DateTimeOffset.UtcNow.AddMinutes(-5), X509RevocationReason.KeyCompromise);
        }
        var list = builder.Build(Ca, crlNumber, nextUpdate ?? DateTimeOffset.UtcNow.AddDays(7), HashAlgorithmName.SHA256,
            thisUpdate: thisUpdate ?? DateTimeOffset.UtcNow.AddMinutes(-10));
        var path = Path.Combine(Folder, fileName);
        if (der)
        {
            File.WriteAllBytes(path, list);
        }
        else
        {
            File.WriteAllText(path, new string(PemEncoding.Write("X509 CRL", list)) + "\n");
        }
        return path;
    }

    /// <summary>A handler that trusts this CA only, remembers the server certificate it saw, and
    /// presents <paramref name="clientCertificate"/> when given.</summary>
    public SocketsHttpHandler Handler(X509Certificate2? clientCertificate = null, Action<X509Certificate2>? sawServer = null)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            if (certificate is null)
            {
                return false;
            }
            var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            sawServer?.Invoke(presented);
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(Ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(presented);
        };
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }
        return handler;
    }

    /// <summary>The protocol a finished TLS handshake agreed on, read from a direct connection.</summary>
    public async Task<(SslProtocols Protocol, SslApplicationProtocol Alpn)> HandshakeAsync(Uri address, SslApplicationProtocol alpn)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [alpn],
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        return (tls.SslProtocol, tls.NegotiatedApplicationProtocol);
    }

    public void Dispose()
    {
        _caKey.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}
