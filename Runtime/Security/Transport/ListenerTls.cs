using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Fabrik.Security.Transport;

/// <summary>
/// TLS for one Kestrel listener from PEM files: TLS 1.2 or 1.3 only, the certificate picked per
/// handshake from a copy that reloads when the files change (rotation without a restart), and,
/// with a client CA, mutual TLS where a client without a certificate that chains to that CA is
/// refused during the handshake. With certificate revocation lists (offline: read from a file
/// that reloads like the certificates, never fetched), a client certificate that is revoked, or
/// whose issuer has no current CRL loaded, is refused in the handshake too. ALPN follows the
/// listener's protocols (h2 for gRPC).
/// </summary>
internal static partial class ListenerTls
{
    /// <summary>How often a handshake looks at the certificate files' times.</summary>
    public static TimeSpan ReloadCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Turns TLS on for <paramref name="listen"/>. Set its protocols first. Reads the
    /// files now, so a missing or bad certificate fails start-up.</summary>
    /// <param name="listen">The listener.</param>
    /// <param name="files">Certificate, key, and optional client CA and client CRLs.</param>
    /// <param name="logger">Where reloads and failed reloads are logged.</param>
    /// <param name="audit">Where reloads are recorded, when auditing.</param>
    /// <param name="stopping">When the server stops (ends the re-checks of open mutual-TLS connections).</param>
    /// <exception cref="InvalidOperationException">A file is missing or not a certificate/key PEM; the message names the file.</exception>
    public static void Configure(ListenOptions listen, TlsFiles files, ILogger logger, AuditLog audit, CancellationToken stopping)
    {
        var name = $"{listen.IPEndPoint}";
        var certificate = Load(files, () => new ReloadingFile<ServerCertificate>(
            [files.CertificatePath, files.KeyPath],
            () => LoadCertificate(files.CertificatePath, files.KeyPath),
            ReloadCheckInterval,
            reloaded: loaded =>
            {
                Log.CertificateReloaded(logger, files.CertificatePath, loaded.Leaf.Subject, loaded.Leaf.NotAfter);
                audit.Write("certificate-reload", ("file", files.CertificatePath), ("subject", loaded.Leaf.Subject), ("thumbprint", loaded.Leaf.GetCertHashString(HashAlgorithmName.SHA256)),
                    ("intermediates", loaded.IntermediateCount));
            },
            failed: e => Log.CertificateReloadFailed(logger, files.CertificatePath, e.Message)));
        var clientCa = files.ClientCaPath is null ? null : Load(files, () => new ReloadingFile<X509Certificate2Collection>(
            [files.ClientCaPath],
            () => LoadCertificates(files.ClientCaPath),
            ReloadCheckInterval,
            reloaded: _ => Log.CertificateReloaded(logger, files.ClientCaPath, "client CA", DateTime.MaxValue),
            failed: e => Log.CertificateReloadFailed(logger, files.ClientCaPath, e.Message)));
        var clientCrl = files.ClientCrlPath is null ? null : Load(files, () => new ReloadingFile<RevocationLists>(
            [files.ClientCrlPath],
            () => LoadRevocationLists(files.ClientCrlPath, logger),
            ReloadCheckInterval,
            reloaded: loaded =>
            {
                Log.CrlReloaded(logger, loaded.Path, loaded.Lists.Count, loaded.Lists.Sum(list => list.RevokedCount));
                audit.Write("crl-reload", ("file", loaded.Path), ("lists", loaded.Lists.Count), ("revoked", loaded.Lists.Sum(list => list.RevokedCount)));
            },
            failed: e => Log.CrlReloadFailed(logger, files.ClientCrlPath, e.Message)));
        if (clientCa is not null && clientCrl is not null)
        {
            RequireIssuers(clientCrl.Current, clientCa.Current);
        }

        var https = new HttpsConnectionAdapterOptions
        {
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            // Kestrel needs a certificate or a selector; the handshake itself takes the context
            // below, which carries the intermediates of the file too.
            ServerCertificateSelector = (_, _) => certificate.Current.Leaf,
            OnAuthenticate = (_, options) =>
            {
                options.ServerCertificateSelectionCallback = null;
                options.ServerCertificate = null;
                options.ServerCertificateContext = certificate.Current.Context;
            },
            CheckCertificateRevocation = false,
            ClientCertificateMode = clientCa is null ? ClientCertificateMode.NoCertificate : ClientCertificateMode.RequireCertificate,
        };
        if (clientCa is not null)
        {
            https.ClientCertificateValidation = (presented, _, _) =>
            {
                var refusal = Refusal(presented, clientCa.Current, clientCrl?.Current, DateTimeOffset.UtcNow);
                if (refusal is not null)
                {
                    Log.ClientRefused(logger, name, refusal);
                    audit.Write("tls-client-refused", ("listener", name), ("subject", presented.Subject), ("reason", refusal));
                }
                return refusal is null;
            };
        }
        listen.UseHttps(https);
        if (clientCa is not null)
        {
            // The handshake checked the certificate once; open connections are checked again when
            // the client CA or CRL changes, and closed when they no longer pass.
            var open = new OpenClientConnections(
                () => (clientCa.Current, clientCrl?.Current),
                presented => Refusal(presented, clientCa.Current, clientCrl?.Current, DateTimeOffset.UtcNow),
                (connection, presented, reason) =>
                {
                    var listener = connection.LocalEndPoint?.ToString() ?? name;
                    var client = connection.RemoteEndPoint?.ToString();
                    Log.ConnectionClosed(logger, listener, client, reason);
                    audit.Write("tls-connection-closed", ("listener", listener), ("client", client), ("subject", presented.Subject), ("reason", reason));
                },
                e => Log.RecheckFailed(logger, name, e),
                ReloadCheckInterval);
            stopping.Register(open.Dispose);
            listen.Use(open.Track);
        }
        Log.TlsOn(logger, name, clientCa is null ? "TLS" : clientCrl is null ? "mutual TLS" : "mutual TLS with revocation lists");
    }

    private static T Load<T>(TlsFiles files, Func<T> load)
    {
        try
        {
            return load();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException($"cannot read the TLS certificate {files.CertificatePath} / key {files.KeyPath}{(files.ClientCaPath is null ? "" : $" / client CA {files.ClientCaPath}")}{(files.ClientCrlPath is null ? "" : $" / client CRL {files.ClientCrlPath}")}: {e.Message}", e);
        }
    }

    /// <summary>The server's certificate with its key, and the chain the handshake sends: the
    /// certificate file's first certificate is the server's, any after it are intermediates (as
    /// cert-manager and most CAs write <c>tls.crt</c>). Built offline: nothing is downloaded.</summary>
    private static ServerCertificate LoadCertificate(string certificatePath, string keyPath)
    {
        var leaf = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        // What Kestrel would check at every handshake, checked once per load: a certificate
        // that names its usages must include server authentication.
        foreach (var usage in leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>())
        {
            if (!usage.EnhancedKeyUsages.Cast<Oid>().Any(oid => oid.Value == "1.3.6.1.5.5.7.3.1"))
            {
                throw new CryptographicException($"{certificatePath}: the certificate is not for server authentication (its extended key usage lacks serverAuth)");
            }
        }
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in LoadCertificates(certificatePath))
        {
            if (certificate.Thumbprint != leaf.Thumbprint)
            {
                intermediates.Add(certificate);
            }
        }
        return new ServerCertificate(leaf, SslStreamCertificateContext.Create(leaf, intermediates, offline: true), intermediates.Count);
    }

    /// <summary>One load of the certificate files.</summary>
    private sealed record ServerCertificate(X509Certificate2 Leaf, SslStreamCertificateContext Context, int IntermediateCount);

    private static X509Certificate2Collection LoadCertificates(string path)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(path);
        return certificates.Count > 0 ? certificates : throw new CryptographicException($"{path} holds no certificate");
    }

    private static RevocationLists LoadRevocationLists(string path, ILogger logger)
    {
        var lists = RevocationLists.Load(path);
        foreach (var list in lists.Lists)
        {
            if (list.NextUpdate is { } next && next < DateTimeOffset.UtcNow)
            {
                Log.CrlExpired(logger, path, list.Issuer.Name, next.UtcDateTime);
            }
        }
        return lists;
    }

    /// <summary>A CRL that no CA of the client CA file signed is a configuration mistake: say so at start.</summary>
    private static void RequireIssuers(RevocationLists lists, X509Certificate2Collection authorities)
    {
        foreach (var list in lists.Lists)
        {
            if (!authorities.Any(list.IsIssuedBy))
            {
                throw new InvalidOperationException($"{lists.Path}: the CRL of '{list.Issuer.Name}' is not signed by any CA of the client CA file");
            }
        }
    }

    /// <summary>Why a client certificate is refused, or null when it is accepted: it must chain to
    /// one of <paramref name="roots"/> (only those: the system store is not consulted, nothing is
    /// downloaded), allow client authentication, and, with <paramref name="revocation"/>, be
    /// covered by a current CRL of each issuer in its chain and not be on it.</summary>
    public static string? Refusal(X509Certificate2 presented, X509Certificate2Collection roots, RevocationLists? revocation, DateTimeOffset now)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2")); // client authentication
        if (!chain.Build(presented))
        {
            var status = chain.ChainStatus.Select(s => s.Status).FirstOrDefault(s => s != X509ChainStatusFlags.NoError);
            return $"the certificate '{presented.Subject}' is not accepted by the client CA ({status})";
        }
        return revocation?.Check(chain, now);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "{Listener}: {Mode} on (TLS 1.2 and 1.3)")]
        public static partial void TlsOn(ILogger logger, string listener, string mode);

        [LoggerMessage(EventId = 1202, Level = LogLevel.Information, Message = "Certificate {File} reloaded: {Subject}, valid until {NotAfter:u}")]
        public static partial void CertificateReloaded(ILogger logger, string file, string subject, DateTime notAfter);

        [LoggerMessage(EventId = 1203, Level = LogLevel.Warning, Message = "Certificate {File} changed but could not be read, the previous one stays in use: {Reason}")]
        public static partial void CertificateReloadFailed(ILogger logger, string file, string reason);

        [LoggerMessage(EventId = 1204, Level = LogLevel.Information, Message = "Client CRL file {File} reloaded: {Lists} lists, {Revoked} revoked certificates")]
        public static partial void CrlReloaded(ILogger logger, string file, int lists, int revoked);

        [LoggerMessage(EventId = 1205, Level = LogLevel.Warning, Message = "Client CRL file {File} changed but could not be read, the previous lists stay in use: {Reason}")]
        public static partial void CrlReloadFailed(ILogger logger, string file, string reason);

        [LoggerMessage(EventId = 1206, Level = LogLevel.Warning, Message = "Client CRL file {File}: the CRL of '{Issuer}' expired at {NextUpdate:u}; clients of that CA are refused until a current one is loaded")]
        public static partial void CrlExpired(ILogger logger, string file, string issuer, DateTime nextUpdate);

        [LoggerMessage(EventId = 1207, Level = LogLevel.Warning, Message = "{Listener}: client certificate refused in the handshake: {Reason}")]
        public static partial void ClientRefused(ILogger logger, string listener, string reason);

        [LoggerMessage(EventId = 1208, Level = LogLevel.Warning, Message = "{Listener}: open connection from {Client} closed, its client certificate is no longer accepted: {Reason}")]
        public static partial void ConnectionClosed(ILogger logger, string listener, string? client, string reason);

        [LoggerMessage(EventId = 1209, Level = LogLevel.Error, Message = "{Listener}: checking the open connections' client certificates again failed; the next check retries")]
        public static partial void RecheckFailed(ILogger logger, string listener, Exception exception);
    }
}
