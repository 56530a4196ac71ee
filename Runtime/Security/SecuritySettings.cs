using Fabrik.Security.Access;
using Fabrik.Security.Transport;

namespace Fabrik.Security;

/// <summary>
/// The security flags of the command line (TLS, API keys, audit, signed models, Triton's API
/// restrictions). Parsed here so that the server's option parser only forwards these names.
/// </summary>
internal sealed record SecuritySettings
{
    public string? HttpTlsCertificate { get; init; }
    public string? HttpTlsKey { get; init; }
    public string? HttpTlsClientCa { get; init; }

    /// <summary>--http-tls-client-crl, --grpc-client-crl, --metrics-tls-client-crl: PEM (or DER)
    /// CRL files that revoke client certificates of the listener's mutual TLS.</summary>
    public string? HttpTlsClientCrl { get; init; }
    public string? GrpcClientCrl { get; init; }
    public string? MetricsTlsClientCrl { get; init; }

    public bool GrpcUseSsl { get; init; }
    public string? GrpcServerCertificate { get; init; }
    public string? GrpcServerKey { get; init; }
    public string? GrpcRootCertificate { get; init; }
    public bool GrpcUseSslMutual { get; init; }

    /// <summary>--auth-keys: the JSON file of key hashes and scopes; null leaves every endpoint open.</summary>
    public string? AuthKeysPath { get; init; }

    /// <summary>--auth-health=true: health endpoints need a key too (by default they stay open for probes).</summary>
    public bool AuthHealth { get; init; }

    /// <summary>--usage-log: the tenants' hash-chained usage records (JSON Lines, every minute and at
    /// stop); null means none.</summary>
    public string? UsageLogPath { get; init; }

    /// <summary>--audit-log: the JSON Lines audit file; null means no audit.</summary>
    public string? AuditLogPath { get; init; }

    /// <summary>--audit-log-max-size: rotate the audit log at this many bytes (0: never).</summary>
    public long AuditLogMaxBytes { get; init; } = 100L * 1024 * 1024;

    /// <summary>--audit-log-max-files: rotated audit files kept beside the log; at each rotation
    /// the oldest beyond this many are deleted (0: keep all).</summary>
    public int AuditLogMaxFiles { get; init; }

    /// <summary>--metrics-tls-cert / --metrics-tls-key / --metrics-tls-client-ca: TLS for the metrics listener.</summary>
    public string? MetricsTlsCertificate { get; init; }
    public string? MetricsTlsKey { get; init; }
    public string? MetricsTlsClientCa { get; init; }

    /// <summary>TLS for the metrics listener, or null for cleartext.</summary>
    public TlsFiles? MetricsTls => MetricsTlsCertificate is null ? null : new(MetricsTlsCertificate, MetricsTlsKey!, MetricsTlsClientCa, MetricsTlsClientCrl);

    /// <summary>--audit-inference=true: one audit record per inference.</summary>
    public bool AuditInference { get; init; }

    /// <summary>--model-trust-key (repeatable): public keys whose signatures models must carry.</summary>
    public IReadOnlyList<string> ModelTrustKeys { get; init; } = [];

    /// <summary>Triton's --http-restricted-api (repeatable).</summary>
    public IReadOnlyList<RestrictedApi> HttpRestrictedApis { get; init; } = [];

    /// <summary>Triton's --grpc-restricted-protocol (repeatable).</summary>
    public IReadOnlyList<RestrictedApi> GrpcRestrictedProtocols { get; init; } = [];

    /// <summary>Failed authentications allowed per client address and minute before 429.</summary>
    public int AuthFailuresPerMinute { get; init; } = 30;

    /// <summary>How often requests look at the key file's time for a reload.</summary>
    public TimeSpan AuthReloadCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>TLS for the HTTP listener, or null for cleartext.</summary>
    public TlsFiles? HttpTls => HttpTlsCertificate is null ? null : new(HttpTlsCertificate, HttpTlsKey!, HttpTlsClientCa, HttpTlsClientCrl);

    /// <summary>TLS for the gRPC listener (Triton's flags), or null for cleartext.</summary>
    public TlsFiles? GrpcTls => GrpcUseSsl ? new(GrpcServerCertificate!, GrpcServerKey!, GrpcUseSslMutual ? GrpcRootCertificate : null, GrpcClientCrl) : null;

    /// <summary>The flag names this record owns.</summary>
    public static bool Owns(string name) => name is "http-tls-cert" or "http-tls-key" or "http-tls-client-ca" or "http-tls-client-crl"
        or "grpc-use-ssl" or "grpc-server-cert" or "grpc-server-key" or "grpc-root-cert" or "grpc-use-ssl-mutual" or "grpc-client-crl"
        or "metrics-tls-cert" or "metrics-tls-key" or "metrics-tls-client-ca" or "metrics-tls-client-crl"
        or "auth-keys" or "auth-health" or "audit-log" or "audit-log-max-size" or "audit-log-max-files" or "audit-inference" or "model-trust-key" or "usage-log"
        or "http-restricted-api" or "grpc-restricted-protocol";

    /// <summary>Applies one flag; <paramref name="value"/> and <paramref name="flag"/> read its value.</summary>
    public SecuritySettings With(string name, Func<string> value, Func<bool> flag) => name switch
    {
        "http-tls-cert" => this with { HttpTlsCertificate = value() },
        "http-tls-key" => this with { HttpTlsKey = value() },
        "http-tls-client-ca" => this with { HttpTlsClientCa = value() },
        "http-tls-client-crl" => this with { HttpTlsClientCrl = value() },
        "grpc-client-crl" => this with { GrpcClientCrl = value() },
        "metrics-tls-client-crl" => this with { MetricsTlsClientCrl = value() },
        "grpc-use-ssl" => this with { GrpcUseSsl = flag() },
        "grpc-server-cert" => this with { GrpcServerCertificate = value() },
        "grpc-server-key" => this with { GrpcServerKey = value() },
        "grpc-root-cert" => this with { GrpcRootCertificate = value() },
        "grpc-use-ssl-mutual" => this with { GrpcUseSslMutual = flag() },
        "metrics-tls-cert" => this with { MetricsTlsCertificate = value() },
        "metrics-tls-key" => this with { MetricsTlsKey = value() },
        "metrics-tls-client-ca" => this with { MetricsTlsClientCa = value() },
        "audit-log-max-size" => this with { AuditLogMaxBytes = Bytes(name, value()) },
        "audit-log-max-files" => this with { AuditLogMaxFiles = FileCount(name, value()) },
        "auth-keys" => this with { AuthKeysPath = value() },
        "auth-health" => this with { AuthHealth = flag() },
        "audit-log" => this with { AuditLogPath = value() },
        "usage-log" => this with { UsageLogPath = value() },
        "audit-inference" => this with { AuditInference = flag() },
        "model-trust-key" => this with { ModelTrustKeys = [.. ModelTrustKeys, value()] },
        "http-restricted-api" => this with { HttpRestrictedApis = [.. HttpRestrictedApis, RestrictedApi.Parse(name, value())] },
        "grpc-restricted-protocol" => this with { GrpcRestrictedProtocols = [.. GrpcRestrictedProtocols, RestrictedApi.Parse(name, value())] },
        _ => throw new ArgumentException($"unknown option '--{name}'"),
    };

    private static long Bytes(string name, string text) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && (value == 0 || value >= 4096)
            ? value
            : throw new ArgumentException($"option --{name} takes 0 (never rotate) or a size of at least 4096 bytes, got '{text}'");

    private static int FileCount(string name, string text) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new ArgumentException($"option --{name} takes 0 (keep every rotated file) or how many to keep, got '{text}'");

    /// <summary>Checks that the flags given make a whole.</summary>
    /// <exception cref="ArgumentException">Which flag is missing.</exception>
    public void Validate()
    {
        if ((HttpTlsCertificate is null) != (HttpTlsKey is null))
        {
            throw new ArgumentException("--http-tls-cert and --http-tls-key go together");
        }
        if ((MetricsTlsCertificate is null) != (MetricsTlsKey is null) || (MetricsTlsClientCa is not null && MetricsTlsCertificate is null))
        {
            throw new ArgumentException("--metrics-tls-cert and --metrics-tls-key go together (and --metrics-tls-client-ca needs them)");
        }
        if (HttpTlsClientCa is not null && HttpTlsCertificate is null)
        {
            throw new ArgumentException("--http-tls-client-ca needs --http-tls-cert and --http-tls-key");
        }
        if (GrpcUseSsl && (GrpcServerCertificate is null || GrpcServerKey is null))
        {
            throw new ArgumentException("--grpc-use-ssl=true needs --grpc-server-cert and --grpc-server-key");
        }
        if (GrpcUseSslMutual && (!GrpcUseSsl || GrpcRootCertificate is null))
        {
            throw new ArgumentException("--grpc-use-ssl-mutual=true needs --grpc-use-ssl=true and --grpc-root-cert");
        }
        if (HttpTlsClientCrl is not null && HttpTlsClientCa is null)
        {
            throw new ArgumentException("--http-tls-client-crl needs mutual TLS (--http-tls-client-ca)");
        }
        if (GrpcClientCrl is not null && !GrpcUseSslMutual)
        {
            throw new ArgumentException("--grpc-client-crl needs mutual TLS (--grpc-use-ssl-mutual=true and --grpc-root-cert)");
        }
        if (MetricsTlsClientCrl is not null && MetricsTlsClientCa is null)
        {
            throw new ArgumentException("--metrics-tls-client-crl needs mutual TLS (--metrics-tls-client-ca)");
        }
        if (UsageLogPath is not null && AuthKeysPath is null)
        {
            throw new ArgumentException("--usage-log needs --auth-keys (tenants are declared in the key file)");
        }
        if (AuditInference && AuditLogPath is null)
        {
            throw new ArgumentException("--audit-inference needs --audit-log");
        }
        if (AuditLogMaxFiles > 0 && (AuditLogPath is null || AuditLogMaxBytes == 0))
        {
            throw new ArgumentException("--audit-log-max-files needs --audit-log and rotation (--audit-log-max-size other than 0)");
        }
    }
}
