using System.Diagnostics;
using Fabrik.Protocol.Triton;
using Fabrik.Security;
using Fabrik.Security.Access;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Fabrik.Protocol.Grpc;

/// <summary>
/// Access rules for the gRPC services: Triton's --grpc-restricted-protocol metadata, then API
/// keys and scopes from the <c>authorization: Bearer</c> metadata or the client certificate,
/// and with --audit-inference one audit record per inference. Inference is authorized per
/// message, since the model is named in the message (a stream may address several models).
/// </summary>
internal sealed class GrpcAccessInterceptor(AccessControl access, SecuritySettings settings, AuditLog audit) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var model = (request as ModelInferRequest)?.ModelName;
        var caller = Authorize(context, model);
        if (audit.Enabled && request is RepositoryModelLoadRequest or RepositoryModelUnloadRequest)
        {
            return await AuditRepositoryCallAsync(request, context, continuation, caller);
        }
        if (model is null || !audit.Enabled || !settings.AuditInference)
        {
            return await continuation(request, context);
        }
        var started = Stopwatch.GetTimestamp();
        var status = StatusCode.OK;
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException e)
        {
            status = e.StatusCode;
            throw;
        }
        finally
        {
            var infer = (ModelInferRequest)(object)request;
            audit.WriteBuffered("inference",
                ("protocol", "grpc"), ("model", model), ("version", infer.ModelVersion), ("caller", caller),
                ("client", context.GetHttpContext().Connection.RemoteIpAddress?.ToString()), ("request_id", infer.Id),
                ("status", status.ToString()), ("latency_us", (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds),
                ("bytes_in", infer.CalculateSize()), ("bytes_out", -1));
        }
    }

    /// <summary>Who asked for a load or unload, and how it ended (the loader records what was loaded).</summary>
    private async Task<TResponse> AuditRepositoryCallAsync<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation, string? caller)
        where TRequest : class
        where TResponse : class
    {
        var status = StatusCode.OK;
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException e)
        {
            status = e.StatusCode;
            throw;
        }
        finally
        {
            var model = request is RepositoryModelLoadRequest load ? load.ModelName : ((RepositoryModelUnloadRequest)(object)request!).ModelName;
            audit.Write("repository-request", ("caller", caller), ("client", context.GetHttpContext().Connection.RemoteIpAddress?.ToString()),
                ("request", $"{context.Method} {model}"), ("status", status.ToString()));
        }
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        // Each message names its model, so each is authorized as it arrives (the first one
        // authenticates the caller).
        return continuation(new AuthorizingReader<TRequest>(requestStream, this, context), responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context, model: null);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context, model: null);
        return continuation(request, responseStream, context);
    }

    /// <summary>Throws the refusal, or returns the caller's id (null when access is open).</summary>
    private string? Authorize(ServerCallContext context, string? model)
    {
        var group = Classify(context.Method);
        var restricted = RestrictedApi.Refusal(settings.GrpcRestrictedProtocols, group,
            header => context.RequestHeaders.GetValue(RestrictedApi.GrpcHeaderPrefix + header));
        if (restricted is not null)
        {
            // Triton's answer to a call without the restricted protocol's header.
            throw new RpcException(new Status(StatusCode.Unavailable, $"This protocol is restricted, expecting header '{RestrictedApi.GrpcHeaderPrefix}{restricted}'"));
        }
        var http = context.GetHttpContext();
        var decision = access.Check(group, model, context.RequestHeaders.GetValue("authorization"), http.Connection.ClientCertificate, http.Connection.RemoteIpAddress, null, context.Method);
        if (group == ApiGroup.SharedMemory)
        {
            http.Items[SharedMemory.SharedMemoryRegistry.CallerItem] = decision.Caller;
        }
        if (group == ApiGroup.Inference && decision.Tenant is { } tenant)
        {
            // The service admits each message against the tenant's quotas.
            http.Features.Set(tenant);
        }
        return decision.Outcome switch
        {
            AccessOutcome.Allowed => decision.Caller,
            AccessOutcome.Unauthenticated => throw new RpcException(new Status(StatusCode.Unauthenticated, decision.Message!)),
            AccessOutcome.Forbidden => throw new RpcException(new Status(StatusCode.PermissionDenied, decision.Message!)),
            _ => throw new RpcException(new Status(StatusCode.ResourceExhausted, decision.Message!)),
        };
    }

    private static ApiGroup Classify(string method) => method[(method.LastIndexOf('/') + 1)..] switch
    {
        "ServerLive" or "ServerReady" or "ModelReady" or "Check" or "Watch" => ApiGroup.Health,
        "ServerMetadata" or "ModelMetadata" => ApiGroup.Metadata,
        "ModelConfig" => ApiGroup.ModelConfig,
        "ModelInfer" or "ModelStreamInfer" => ApiGroup.Inference,
        "ModelStatistics" => ApiGroup.Statistics,
        "RepositoryIndex" or "RepositoryModelLoad" or "RepositoryModelUnload" => ApiGroup.Repository,
        "SystemSharedMemoryStatus" or "SystemSharedMemoryRegister" or "SystemSharedMemoryUnregister"
            or "CudaSharedMemoryStatus" or "CudaSharedMemoryRegister" or "CudaSharedMemoryUnregister" => ApiGroup.SharedMemory,
        _ => ApiGroup.Other,
    };

    /// <summary>Authorizes each inference message of a stream before the service sees it.</summary>
    private sealed class AuthorizingReader<T>(IAsyncStreamReader<T> inner, GrpcAccessInterceptor owner, ServerCallContext context) : IAsyncStreamReader<T>
    {
        public T Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            if (!await inner.MoveNext(cancellationToken))
            {
                return false;
            }
            if (inner.Current is ModelInferRequest request)
            {
                owner.Authorize(context, request.ModelName);
            }
            return true;
        }
    }
}
