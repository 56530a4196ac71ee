using System.Net;
using System.Security.Cryptography.X509Certificates;
using Fabrik.Tenancy;

namespace Fabrik.Security.Access;

/// <summary>
/// API keys and scopes (--auth-keys): who the caller is (a bearer key, else a mapped client
/// certificate subject) and whether its scopes grant the endpoint. The key file reloads when it
/// changes; one that fails to parse keeps the previous keys. Failures are counted per client
/// address (<see cref="FailedAuthentications"/>), and a client past the limit is answered 429
/// for a minute before its key is even looked at, so guessing keys cannot go faster than the
/// limit. Thread-safe; one per server.
/// </summary>
internal sealed partial class AccessControl
{
    private const string BearerPrefix = "Bearer ";

    private readonly ReloadingFile<ApiKeyFile>? _keys;
    private readonly bool _authHealth;
    private readonly AuditLog _audit;
    private readonly ILogger _logger;
    private readonly FailedAuthentications _failures;

    /// <summary>Reads the key file now (a bad one fails start-up).</summary>
    /// <param name="settings">The flags.</param>
    /// <param name="loggerFactory">For the reload and refusal log lines.</param>
    /// <param name="audit">For the reload and refusal records.</param>
    /// <param name="time">The clock of the failure limit and the tenants' quotas.</param>
    /// <param name="tenants">Where the key file's tenants are kept (one per server); a new one when null.</param>
    /// <exception cref="InvalidOperationException">The key file is missing or malformed; the message says why.</exception>
    public AccessControl(SecuritySettings settings, ILoggerFactory loggerFactory, AuditLog audit, TimeProvider time, TenantRegistry? tenants = null)
    {
        _logger = loggerFactory.CreateLogger("Fabrik.Security");
        Tenants = tenants ?? new TenantRegistry(time);
        _authHealth = settings.AuthHealth;
        _audit = audit;
        if (settings.AuthKeysPath is { } path)
        {
            try
            {
                _keys = new ReloadingFile<ApiKeyFile>([path], () => ApiKeyFile.Parse(File.ReadAllText(path)).BindTenants(Tenants), settings.AuthReloadCheckInterval,
                    reloaded: file =>
                    {
                        Log.KeysReloaded(_logger, path, file.Keys.Length);
                        _audit.Write("keys-reload", ("file", path), ("keys", file.Keys.Select(key => key.Id)), ("tenants", file.Tenants.Select(tenant => tenant.Name)));
                    },
                    failed: e =>
                    {
                        Log.KeysReloadFailed(_logger, path, e.Message);
                        _audit.Write("keys-reload-failed", ("file", path), ("reason", e.Message));
                    });
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                throw new InvalidOperationException($"--auth-keys {path}: {e.Message}", e);
            }
        }
        _failures = new FailedAuthentications(settings.AuthFailuresPerMinute, time);
    }

    /// <summary>The tenants the key file declares, with their quotas and usage.</summary>
    public TenantRegistry Tenants { get; }

    /// <summary>Whether keys are required at all.</summary>
    public bool Enabled => _keys is not null;

    /// <summary>Decides one request.</summary>
    /// <param name="group">What is asked for.</param>
    /// <param name="model">The model, for inference.</param>
    /// <param name="authorization">The Authorization header (or gRPC metadata), if any.</param>
    /// <param name="clientCertificate">The client's TLS certificate, if any (already validated by the handshake).</param>
    /// <param name="remote">The client's address, for the failure limit and the audit.</param>
    /// <param name="verb">The HTTP method, or null for an RPC.</param>
    /// <param name="target">The path, or the RPC's name. With the verb, what the log and the
    /// audit say was asked; put together only when something is refused.</param>
    public AccessDecision Check(ApiGroup group, string? model, string? authorization, X509Certificate2? clientCertificate, IPAddress? remote, string? verb, string target)
    {
        if (_keys is null || (group == ApiGroup.Health && !_authHealth))
        {
            return AccessDecision.Open;
        }
        var client = remote?.ToString() ?? "unknown";
        // What was asked, put together only on the refusal paths (an allowed request never needs it).
        string What() => AuditLog.Truncate(verb is null ? target : $"{verb} {target}");
        if (_failures.BlockedFor(client) is { } blocked)
        {
            _audit.WriteRefusal("auth-rate-limited", client, What());
            return new AccessDecision(AccessOutcome.RateLimited, null, "too many failed authentication attempts from this client; retry later", blocked);
        }

        var keys = _keys.Current;
        ApiKey? caller = null;
        if (authorization is not null && authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            caller = keys.FindByKey(authorization.AsSpan(BearerPrefix.Length).Trim());
        }
        else if (authorization is null && clientCertificate is not null)
        {
            caller = keys.FindBySubject(clientCertificate.Subject);
        }
        if (caller is null)
        {
            _failures.RecordFailure(client);
            var reason = authorization is null ? "no credentials" : "unknown key";
            Log.Unauthenticated(_logger, client, What(), reason);
            _audit.WriteRefusal("auth-failure", client, What(), ("reason", reason));
            return new AccessDecision(AccessOutcome.Unauthenticated, null, authorization is null
                ? "this endpoint needs an API key: send Authorization: Bearer <key>"
                : "the API key is not valid");
        }
        if (!caller.Grants(group, model))
        {
            Log.Forbidden(_logger, caller.Id, client, What());
            _audit.WriteRefusal("auth-denied", client, What(), ("caller", caller.Id), ("model", model));
            return new AccessDecision(AccessOutcome.Forbidden, caller.Id, model is null
                ? $"the API key '{caller.Id}' has no scope for this endpoint"
                : $"the API key '{caller.Id}' may not run inference on model '{model}'");
        }
        return new AccessDecision(AccessOutcome.Allowed, caller.Id, null) { Key = caller };
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1210, Level = LogLevel.Information, Message = "API keys reloaded from {File}: {Count} entries")]
        public static partial void KeysReloaded(ILogger logger, string file, int count);

        [LoggerMessage(EventId = 1211, Level = LogLevel.Warning, Message = "API key file {File} changed but could not be read; the previous keys stay in force: {Reason}")]
        public static partial void KeysReloadFailed(ILogger logger, string file, string reason);

        [LoggerMessage(EventId = 1212, Level = LogLevel.Information, Message = "Authentication failed from {Client} for {Request}: {Reason}")]
        public static partial void Unauthenticated(ILogger logger, string client, string request, string reason);

        [LoggerMessage(EventId = 1213, Level = LogLevel.Information, Message = "Key '{Caller}' from {Client} denied {Request}")]
        public static partial void Forbidden(ILogger logger, string caller, string client, string request);
    }
}
