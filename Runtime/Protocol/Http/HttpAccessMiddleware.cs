using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Fabrik.Security;
using Fabrik.Security.Access;
using Fabrik.Tenancy;

namespace Fabrik.Protocol.Http;

/// <summary>
/// Access rules for the HTTP endpoints: Triton's --http-restricted-api headers, then API keys
/// and scopes (<see cref="AccessControl"/>), the caller's tenant quotas (<see cref="Tenant"/>:
/// decided here, before the body is read), and with --audit-inference one audit record per
/// inference. Added to the pipeline only when one of them is configured. gRPC calls pass
/// through to <see cref="Grpc.GrpcAccessInterceptor"/>, which sees the model in the message.
/// </summary>
internal sealed class HttpAccessMiddleware(RequestDelegate next, AccessControl access, SecuritySettings settings, AuditLog audit)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (context.GetEndpoint()?.Metadata.GetMetadata<global::Grpc.AspNetCore.Server.GrpcMethodMetadata>() is not null)
        {
            // A gRPC method (routing has run): the interceptor checks it, with the message in hand.
            await next(context);
            return;
        }
        if (request.Path.StartsWithSegments(OpenAi.OpenAiEndpoints.Prefix, StringComparison.OrdinalIgnoreCase))
        {
            // The OpenAI-compatible routes name the model in the body and answer in OpenAI's
            // shape: they check access themselves once the body is read.
            await next(context);
            return;
        }
        var (group, model) = Classify(request.Path.Value ?? "");
        var restrictedHeader = settings.HttpRestrictedApis.Count == 0 ? null
            : RestrictedApi.Refusal(settings.HttpRestrictedApis, group, header => request.Headers[header].FirstOrDefault());
        if (restrictedHeader is not null)
        {
            // Triton's answer to a request without the restricted API's header.
            await WriteRefusalAsync(context, StatusCodes.Status403Forbidden, $"This API is restricted, expecting header '{restrictedHeader}'");
            return;
        }
        var path = request.Path.Value ?? "";
        var decision = access.Check(group, model, AuthorizationHeader(request), context.Connection.ClientCertificate, context.Connection.RemoteIpAddress, request.Method, path);
        switch (decision.Outcome)
        {
            case AccessOutcome.Unauthenticated:
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"fabrik\"";
                await WriteRefusalAsync(context, StatusCodes.Status401Unauthorized, decision.Message!);
                return;
            case AccessOutcome.Forbidden:
                await WriteRefusalAsync(context, StatusCodes.Status403Forbidden, decision.Message!);
                return;
            case AccessOutcome.RateLimited:
                // Whole seconds, rounded up, until the block ends (at least 1).
                context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(decision.RetryAfter!.Value.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await WriteRefusalAsync(context, StatusCodes.Status429TooManyRequests, decision.Message!);
                return;
        }
        if (group == ApiGroup.SharedMemory)
        {
            // The registry audits registrations under the caller's key id.
            context.Items[SharedMemory.SharedMemoryRegistry.CallerItem] = decision.Caller;
        }
        if (group == ApiGroup.Usage)
        {
            // The usage endpoint shows the caller's own tenant, or every tenant to an admin.
            context.Features.Set(decision.Key);
        }
        if (group == ApiGroup.Inference && decision.Tenant is { } tenant)
        {
            await AdmitAsync(context, tenant, decision, group, model, path);
            return;
        }
        await ContinueAsync(context, decision, group, model, path);
    }

    /// <summary>Runs an inference of <paramref name="tenant"/> if its quotas admit it (perhaps after
    /// waiting for an in-flight slot), or answers 429 with Retry-After.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AdmitAsync(HttpContext context, Tenant tenant, AccessDecision decision, ApiGroup group, string? model, string path)
    {
        TenantRefusal? refusal;
        try
        {
            refusal = await tenant.EnterAsync(context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return; // the client left while waiting for a slot
        }
        if (refusal is not null)
        {
            context.Response.Headers.RetryAfter = refusal.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            await WriteRefusalAsync(context, StatusCodes.Status429TooManyRequests, refusal.Message);
            return;
        }
        context.Features.Set(tenant);
        try
        {
            await ContinueAsync(context, decision, group, model, path);
        }
        finally
        {
            tenant.Exit();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ContinueAsync(HttpContext context, AccessDecision decision, ApiGroup group, string? model, string path)
    {
        var request = context.Request;
        if (audit.Enabled && group == ApiGroup.Repository && request.Method == "POST" && !request.Path.StartsWithSegments("/v2/repository/index"))
        {
            // Who asked for a load or unload, and how it ended (the loader records what was loaded).
            await next(context);
            audit.Write("repository-request", ("caller", decision.Caller), ("client", context.Connection.RemoteIpAddress?.ToString()),
                ("request", $"{request.Method} {path}"), ("request_id", context.TraceIdentifier), ("status", context.Response.StatusCode));
            return;
        }
        if (!audit.Enabled || group != ApiGroup.Inference || !settings.AuditInference)
        {
            await next(context);
            return;
        }
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            audit.WriteBuffered("inference",
                ("protocol", "http"), ("model", model), ("version", context.Request.RouteValues["version"] as string ?? ""),
                ("caller", decision.Caller), ("client", context.Connection.RemoteIpAddress?.ToString()), ("request_id", context.TraceIdentifier),
                ("status", context.Response.StatusCode), ("latency_us", (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds),
                ("bytes_in", request.ContentLength ?? -1), ("bytes_out", context.Response.ContentLength ?? -1));
        }
    }

    /// <summary>Which group a path belongs to and, for inference, the model.</summary>
    public static (ApiGroup Group, string? Model) Classify(string path)
    {
        if (InferenceModel(path) is { } inferred)
        {
            return (ApiGroup.Inference, inferred);
        }
        // Routing ignores case, so the fixed segments are matched without it; the model keeps its own.
        var segments = path.Trim('/').Split('/');
        var model = segments.Length > 2 ? segments[2] : null;
        return Array.ConvertAll(segments, segment => segment.ToLowerInvariant()) switch
        {
            ["v2", "health", ..] => (ApiGroup.Health, null),
            ["v2"] => (ApiGroup.Metadata, null),
            ["v2", "models", "stats"] => (ApiGroup.Statistics, null),
            ["v2", "models", _] or ["v2", "models", _, "versions", _] => (ApiGroup.Metadata, null),
            ["v2", "models", _, "ready"] or ["v2", "models", _, "versions", _, "ready"] => (ApiGroup.Health, null),
            ["v2", "models", _, "infer"] or ["v2", "models", _, "versions", _, "infer"] => (ApiGroup.Inference, model),
            ["v2", "models", _, "config"] or ["v2", "models", _, "versions", _, "config"] => (ApiGroup.ModelConfig, null),
            ["v2", "models", _, "stats"] or ["v2", "models", _, "versions", _, "stats"] => (ApiGroup.Statistics, null),
            ["v2", "repository", ..] => (ApiGroup.Repository, null),
            ["v2", "tenants", "usage"] => (ApiGroup.Usage, null),
            ["v2", "systemsharedmemory", ..] or ["v2", "cudasharedmemory", ..] => (ApiGroup.SharedMemory, null),
            ["metrics"] => (ApiGroup.Metrics, null),
            _ => (ApiGroup.Other, null),
        };
    }

    /// <summary>The Authorization header's one value (its values joined, should a client send several),
    /// read without enumerating the header.</summary>
    private static string? AuthorizationHeader(HttpRequest request)
    {
        var values = request.Headers.Authorization;
        return values.Count == 0 ? null : values.ToString();
    }

    /// <summary>The model of <c>/v2/models/{m}/infer</c> or <c>/v2/models/{m}/versions/{v}/infer</c>,
    /// found without splitting the path (the one route every inference takes); null for any other
    /// path, which <see cref="Classify"/> then splits.</summary>
    private static string? InferenceModel(string path)
    {
        const string prefix = "/v2/models/";
        if (!path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var rest = path.AsSpan(prefix.Length);
        var end = rest.IndexOf('/');
        if (end <= 0)
        {
            return null;
        }
        var tail = rest[end..];
        if (!tail.Equals("/infer", StringComparison.OrdinalIgnoreCase))
        {
            const string versions = "/versions/";
            if (!tail.StartsWith(versions, StringComparison.OrdinalIgnoreCase) || !tail.EndsWith("/infer", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }
            var version = tail[versions.Length..^"/infer".Length];
            if (version.IsEmpty || version.Contains('/'))
            {
                return null;
            }
        }
        return rest[..end].ToString();
    }

    private static Task WriteRefusalAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return HttpErrors.WriteAsync(context, message);
    }
}
