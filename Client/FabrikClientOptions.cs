using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Fabrik.Client;

/// <summary>
/// How a <see cref="FabrikClient"/> reaches its server: the transport and addresses, credentials,
/// TLS, timeouts and retries. Read once, when the client is created.
/// </summary>
public sealed class FabrikClientOptions
{
    /// <summary>The protocol for every call but the stream (default HTTP).</summary>
    public FabrikTransport Transport { get; set; } = FabrikTransport.Http;

    /// <summary>The HTTP/REST endpoint (default <c>http://localhost:8000</c>); https for TLS.</summary>
    public Uri HttpAddress { get; set; } = new("http://localhost:8000");

    /// <summary>The gRPC endpoint (default <c>http://localhost:8001</c>); https for TLS. The
    /// stream always uses it, whatever <see cref="Transport"/> says.</summary>
    public Uri GrpcAddress { get; set; } = new("http://localhost:8001");

    /// <summary>How tensors travel over HTTP (default the binary tensor extension).</summary>
    public HttpTensorFormat HttpTensorFormat { get; set; } = HttpTensorFormat.Binary;

    /// <summary>An API key, sent as <c>Authorization: Bearer</c> (HTTP header or gRPC metadata)
    /// with every call. Fabrik checks it against <c>--auth-keys</c>; Triton has no keys of its own,
    /// but a gateway in front of it may.</summary>
    public string? ApiKey { get; set; }

    /// <summary>How long one attempt of a call may take before it fails with
    /// <see cref="FabrikErrorKind.DeadlineExceeded"/> (default 100 s; <see cref="Timeout.InfiniteTimeSpan"/> for none).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>How long opening a connection may take (default 10 s).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Retries of calls the server could not take; null (the default) never retries.</summary>
    public RetryPolicy? Retry { get; set; }

    /// <summary>Certificate authorities trusted for the server's certificate, in place of the
    /// system's store (a private PKI); null uses the system's.</summary>
    public X509Certificate2Collection? TrustedCertificateAuthorities { get; set; }

    /// <summary>The client certificate, with its private key, for mutual TLS.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>A check of the server's certificate of the caller's own, in place of the others.</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }

    /// <summary>The largest answer accepted, in bytes (default 1 GiB): an HTTP body, or a gRPC message.</summary>
    public int MaxResponseBytes { get; set; } = 1 << 30;

    /// <summary>A handler to send every call through instead of the client's own connection pool
    /// (a test server's, or one with a proxy or extra handlers). The TLS and connect settings above
    /// then do not apply; the client does not dispose it.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>The clock that retry waits and the elapsed bound are measured on (default the system's).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Checks the settings; throws naming the first that is wrong.</summary>
    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(HttpAddress);
        ArgumentNullException.ThrowIfNull(GrpcAddress);
        ArgumentNullException.ThrowIfNull(TimeProvider);
        if (!HttpAddress.IsAbsoluteUri || HttpAddress.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"HttpAddress must be an absolute http or https address, not '{HttpAddress}'", nameof(HttpAddress));
        }
        if (!GrpcAddress.IsAbsoluteUri || GrpcAddress.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"GrpcAddress must be an absolute http or https address, not '{GrpcAddress}'", nameof(GrpcAddress));
        }
        if (Timeout <= TimeSpan.Zero && Timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "a timeout must be positive, or infinite");
        }
        if (MaxResponseBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxResponseBytes), MaxResponseBytes, "must be positive");
        }
        Retry?.Validate();
    }
}
