using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Fabrik.Client.Wire;

/// <summary>The client's own connection pool: a <see cref="SocketsHttpHandler"/> with the
/// options' TLS settings, HTTP/2 on several connections (for gRPC), and no trace headers of its
/// own (the transports add the caller's).</summary>
internal static class ClientHandlers
{
    public static SocketsHttpHandler Create(FabrikClientOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            // The transports put the caller's traceparent on each call; the handler's own
            // propagation would add a second one.
            ActivityHeadersPropagator = null,
        };
        if (options.ClientCertificate is { } certificate)
        {
            handler.SslOptions.ClientCertificates = [certificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate;
        }
        if (options.ServerCertificateValidation is { } validation)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validation;
        }
        else if (options.TrustedCertificateAuthorities is { Count: > 0 } authorities)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, sent, errors) => TrustedBy(authorities, presented, sent, errors);
        }
        return handler;
    }

    /// <summary>Whether the server's certificate chains to one of <paramref name="authorities"/>
    /// (through the intermediates it sent) and names the host (the platform checked the name;
    /// only the chain is built again here).</summary>
    private static bool TrustedBy(X509Certificate2Collection authorities, X509Certificate? presented, X509Chain? sent, SslPolicyErrors errors)
    {
        if (presented is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            return false;
        }
        using var certificate = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        // A private PKI seldom publishes revocation lists where clients can reach them.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (sent is not null)
        {
            foreach (var element in sent.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        return chain.Build(certificate);
    }
}
