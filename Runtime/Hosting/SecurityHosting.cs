using System.Net;
using Fabrik.Protocol.Grpc;
using Fabrik.Protocol.Http;
using Fabrik.Security;
using Fabrik.Security.Transport;
using Fabrik.Security.Access;
using Fabrik.Tenancy;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Fabrik.Hosting;

/// <summary>
/// Wires the security subsystem into the host: TLS on the listeners, API keys and Triton's API
/// restrictions in front of both protocols, the audit log's start and stop records. The server
/// calls these few hooks; the rules themselves live in <see cref="Fabrik.Security"/>.
/// </summary>
internal static partial class SecurityHosting
{
    /// <summary>Registers the settings, the audit log and the access rules; returns the audit log
    /// (off when --audit-log is not given), which the server closes last.</summary>
    public static AuditLog AddSecurity(WebApplicationBuilder builder, SecuritySettings settings)
    {
        var audit = new AuditLog(settings.AuditLogPath, settings.AuditLogMaxBytes, maxFiles: settings.AuditLogMaxFiles);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(audit);
        builder.Services.AddSingleton<TenantRegistry>();
        builder.Services.AddSingleton<AccessControl>();
        builder.Services.AddSingleton<TenantUsageEndpoint>();
        return audit;
    }

    /// <summary>Opens --usage-log and starts its minute records; null without the flag. The server
    /// disposes it once the requests in flight are answered (the last period's records).</summary>
    public static TenantUsageLog? StartUsageLog(WebApplication app, SecuritySettings settings) =>
        settings.UsageLogPath is { } path
            ? new TenantUsageLog(path, app.Services.GetRequiredService<TenantRegistry>(), app.Services.GetRequiredService<TimeProvider>())
            : null;

    /// <summary>Whether requests go through the access checks at all (otherwise they cost nothing).</summary>
    public static bool ChecksAccess(SecuritySettings settings) =>
        settings.AuthKeysPath is not null || settings.AuditLogPath is not null || settings.HttpRestrictedApis.Count > 0 || settings.GrpcRestrictedProtocols.Count > 0;

    /// <summary>Adds the gRPC interceptor when access is checked.</summary>
    public static void AddGrpcAccess(Grpc.AspNetCore.Server.GrpcServiceOptions grpc, SecuritySettings settings)
    {
        if (ChecksAccess(settings))
        {
            grpc.Interceptors.Add<GrpcAccessInterceptor>();
        }
    }

    /// <summary>Reads the key file now (a bad one fails start-up) and puts the HTTP checks in the pipeline.</summary>
    public static void UseAccessChecks(WebApplication app, SecuritySettings settings)
    {
        if (ChecksAccess(settings))
        {
            app.Services.GetRequiredService<AccessControl>();
            app.UseMiddleware<HttpAccessMiddleware>();
        }
    }

    /// <summary>TLS on a listener when <paramref name="tls"/> is set (set the listener's protocols first).</summary>
    public static void UseTls(ListenOptions listen, TlsFiles? tls)
    {
        if (tls is not null)
        {
            var services = listen.ApplicationServices;
            ListenerTls.Configure(listen, tls, services.GetRequiredService<ILoggerFactory>().CreateLogger("Fabrik.Security"), services.GetRequiredService<AuditLog>(),
                services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
        }
    }

    /// <summary>One warning naming every listener that serves a non-loopback address in cleartext.</summary>
    public static void WarnAboutCleartext(ILogger logger, ServerOptions options)
    {
        var exposed = new List<string>();
        if (options.AllowHttp && options.Security.HttpTls is null && !IPAddress.IsLoopback(options.HttpAddress))
        {
            exposed.Add($"HTTP on {options.HttpAddress}");
        }
        if (options.AllowGrpc && options.Security.GrpcTls is null && !IPAddress.IsLoopback(options.GrpcAddress))
        {
            exposed.Add($"gRPC on {options.GrpcAddress}");
        }
        if (exposed.Count > 0)
        {
            Log.CleartextOnNetwork(logger, string.Join(" and ", exposed));
        }
    }

    /// <summary>The audit record of the server's start: its effective settings, no secrets.</summary>
    public static void AuditStart(AuditLog audit, ServerOptions options, IReadOnlyList<string> repositories)
    {
        var security = options.Security;
        audit.Write("server-start",
            ("repositories", repositories),
            ("http", options.AllowHttp ? $"{options.HttpAddress}:{options.HttpPort}" : null),
            ("http_tls", security.HttpTls is null ? "off" : security.HttpTlsClientCa is null ? "tls" : "mutual"),
            ("grpc", options.AllowGrpc ? $"{options.GrpcAddress}:{options.GrpcPort}" : null),
            ("grpc_tls", security.GrpcTls is null ? "off" : security.GrpcUseSslMutual ? "mutual" : "tls"),
            ("client_crls", new[] { security.HttpTlsClientCrl, security.GrpcClientCrl, security.MetricsTlsClientCrl }.OfType<string>().ToArray()),
            ("auth_keys", security.AuthKeysPath),
            ("auth_health", security.AuthHealth),
            ("audit_inference", security.AuditInference),
            ("model_trust_keys", security.ModelTrustKeys),
            ("model_control_mode", options.ModelControlMode.ToString().ToLowerInvariant()),
            ("shared_memory", options.SharedMemory.Allowed));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1220, Level = LogLevel.Warning, Message = "{Listeners} without TLS: traffic, model inputs and API keys cross the network in cleartext (use --http-tls-cert/--http-tls-key, --grpc-use-ssl)")]
        public static partial void CleartextOnNetwork(ILogger logger, string listeners);
    }
}
