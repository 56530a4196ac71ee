using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Fabrik.Benchmarks.Load;

/// <summary>
/// What the report's hardened server needs, made fresh in a private temporary folder: a CA, a
/// server certificate for localhost that it issued (ECDSA P-256), and an API-key file holding the
/// SHA-256 of one random key with the scopes the load generator uses. Deleted on dispose.
/// </summary>
internal sealed class SecuredListener : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("fabrik-report-tls-");

    public SecuredListener()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Fabrik report CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = serverRequest.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(16));

        CaPath = Write("ca.pem", ca.ExportCertificatePem());
        CertificatePath = Write("server.pem", server.ExportCertificatePem());
        KeyPath = Write("server.key", serverKey.ExportPkcs8PrivateKeyPem());
        Key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var hash = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Key)));
        KeysPath = Write("keys.json", $$"""{"keys": [{"id": "report", "sha256": "{{hash}}", "scopes": ["infer:*", "metadata", "stats"]}]}""");
    }

    public string CaPath { get; }
    public string CertificatePath { get; }
    public string KeyPath { get; }
    public string KeysPath { get; }

    /// <summary>The API key itself (the keys file holds only its hash).</summary>
    public string Key { get; }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_folder.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose() => _folder.Delete(recursive: true);
}
