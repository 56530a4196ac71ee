using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Fabrik.Security;

/// <summary>
/// TLS for one Kestrel listener from PEM files: TLS 1.2 or 1.3 only, the certificate picked per
/// handshake from a copy that reloads when the files change (rotation without a restart), and,
/// with a client CA, mutual TLS where a client without a certificate that chains to that CA is
/// refused during the handshake. ALPN follows the listener's protocols (h2 for gRPC).
/// </summary>
internal static partial class ListenerTls
{
    /// <summary>How often a handshake looks at the certificate files' times.</summary>
    public static TimeSpan ReloadCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Turns TLS on for <paramref name="listen"/>. Set its protocols first. Reads the
    /// files now, so a missing or bad certificate fails start-up.</summary>
    /// <param name="listen">The listener.</param>
    /// <param name="files">Certificate, key and optional client CA.</param>
    /// <param name="logger">Where reloads and failed reloads are logged.</param>
    /// <param name="audit">Where reloads are recorded, when auditing.</param>
    /// <exception cref="InvalidOperationException">A file is missing or not a certificate/key PEM; the message names the file.</exception>
    public static void Configure(ListenOptions listen, TlsFiles files, ILogger logger, AuditLog audit)
    {
        var name = $"{listen.IPEndPoint}";
        var certificate = Load(files, () => new ReloadingFile<X509Certificate2>(
            [files.CertificatePath, files.KeyPath],
            () => LoadCertificate(files.CertificatePath, files.KeyPath),
            ReloadCheckInterval,
            reloaded: loaded =>
            {
                Log.CertificateReloaded(logger, files.CertificatePath, loaded.Subject, loaded.NotAfter);
                audit.Write("certificate-reload", ("file", files.CertificatePath), ("subject", loaded.Subject), ("thumbprint", loaded.GetCertHashString(HashAlgorithmName.SHA256)));
            },
            failed: e => Log.CertificateReloadFailed(logger, files.CertificatePath, e.Message)));
        var clientCa = files.ClientCaPath is null ? null : Load(files, () => new ReloadingFile<X509Certificate2Collection>(
            [files.ClientCaPath],
            () => LoadCertificates(files.ClientCaPath),
            ReloadCheckInterval,
            reloaded: _ => Log.CertificateReloaded(logger, files.ClientCaPath, "client CA", DateTime.MaxValue),
            failed: e => Log.CertificateReloadFailed(logger, files.ClientCaPath, e.Message)));

        var https = new HttpsConnectionAdapterOptions
        {
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ServerCertificateSelector = (_, _) => certificate.Current,
            CheckCertificateRevocation = false,
            ClientCertificateMode = clientCa is null ? ClientCertificateMode.NoCertificate : ClientCertificateMode.RequireCertificate,
        };
        if (clientCa is not null)
        {
            https.ClientCertificateValidation = (presented, _, _) => ChainsTo(presented, clientCa.Current);
        }
        listen.UseHttps(https);
        Log.TlsOn(logger, name, clientCa is null ? "TLS" : "mutual TLS");
    }

    private static T Load<T>(TlsFiles files, Func<T> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException($"cannot read the TLS certificate {files.CertificatePath} / key {files.KeyPath}{(files.ClientCaPath is null ? "" : $" / client CA {files.ClientCaPath}")}: {e.Message}", e);
        }
    }

    private static X509Certificate2 LoadCertificate(string certificatePath, string keyPath) =>
        X509Certificate2.CreateFromPemFile(certificatePath, keyPath);

    private static X509Certificate2Collection LoadCertificates(string path)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(path);
        return certificates.Count > 0 ? certificates : throw new CryptographicException($"{path} holds no certificate");
    }

    /// <summary>Whether <paramref name="presented"/> chains to one of <paramref name="roots"/>
    /// (and only those: the system store is not consulted) and may authenticate clients.</summary>
    public static bool ChainsTo(X509Certificate2 presented, X509Certificate2Collection roots)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2")); // client authentication
        return chain.Build(presented);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "{Listener}: {Mode} on (TLS 1.2 and 1.3)")]
        public static partial void TlsOn(ILogger logger, string listener, string mode);

        [LoggerMessage(EventId = 1202, Level = LogLevel.Information, Message = "Certificate {File} reloaded: {Subject}, valid until {NotAfter:u}")]
        public static partial void CertificateReloaded(ILogger logger, string file, string subject, DateTime notAfter);

        [LoggerMessage(EventId = 1203, Level = LogLevel.Warning, Message = "Certificate {File} changed but could not be read, the previous one stays in use: {Reason}")]
        public static partial void CertificateReloadFailed(ILogger logger, string file, string reason);
    }
}
