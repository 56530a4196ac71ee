using System.Net;
using System.Runtime.CompilerServices;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Observability.Tracing;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Protocol.Triton;
using Fabrik.Tenancy;
using Fabrik.Tensors;
using Grpc.Core;

namespace Fabrik.Protocol.Grpc;

/// <summary>
/// <c>inference.GRPCInferenceService</c>, wire-compatible with Triton's. Errors become
/// RpcExceptions with the matching status code (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, ...).
/// </summary>
[BindServiceMethod(typeof(GrpcServiceBinding), nameof(GrpcServiceBinding.BindServiceRejectingMalformedMessages))]
internal sealed class GrpcInferenceService(ModelManager models, InferencePipeline pipeline, TensorMemoryPool pool, ServerIdentity identity, SharedMemoryRegistry sharedMemory)
    : GRPCInferenceService.GRPCInferenceServiceBase
{
    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerLiveResponse { Live = identity.IsLive });

    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerReadyResponse { Ready = models.AllModelsReady });

    public override Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context)
    {
        try
        {
            var model = models.Resolve(request.Name, request.Version);
            return Task.FromResult(new ModelReadyResponse { Ready = model.Scheduler.Health.IsHealthy });
        }
        catch (InferenceException)
        {
            return Task.FromResult(new ModelReadyResponse { Ready = false });
        }
    }

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context) =>
        Task.FromResult(ServerViews.ServerMetadata(identity));

    public override Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context)
    {
        var model = Resolve(request.Name, request.Version);
        return Task.FromResult(ServerViews.ModelMetadata(model, models.ServedVersions(model)));
    }

    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        try
        {
            return await InferAsync(request, context);
        }
        catch (InferenceException e)
        {
            throw GrpcErrors.ToRpcException(e, context);
        }
    }

    public override async Task ModelStreamInfer(IAsyncStreamReader<ModelInferRequest> requestStream, IServerStreamWriter<ModelStreamInferResponse> responseStream, ServerCallContext context)
    {
        // Triton's stream reports a failed request in the message and keeps the stream open.
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            ModelStreamInferResponse message;
            try
            {
                message = new ModelStreamInferResponse { InferResponse = await InferAsync(request, context) };
            }
            catch (InferenceException e)
            {
                message = new ModelStreamInferResponse { ErrorMessage = GrpcErrors.ClientMessage(e, context), InferResponse = new ModelInferResponse { Id = request.Id } };
            }
            try
            {
                await responseStream.WriteAsync(message, context.CancellationToken);
            }
            finally
            {
                // Serialized or not (the stream may have ended), the pooled outputs go back now.
                message.InferResponse?.ReleasePooledOutputs();
            }
        }
    }

    /// <summary>Runs one message; when the caller has a tenant (left by the access interceptor),
    /// only once the tenant's quotas admit it, and a refusal is RESOURCE_EXHAUSTED.</summary>
    private ValueTask<ModelInferResponse> InferAsync(ModelInferRequest message, ServerCallContext context) =>
        context.GetHttpContext().Features.Get<Tenant>() is { } tenant
            ? AdmittedInferAsync(message, context, tenant)
            : pipeline.RunAsync<GrpcInferenceExchange, ModelInferResponse>(
                message.ModelName, message.ModelVersion, new GrpcInferenceExchange(message, context, pool, sharedMemory), context.CancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ModelInferResponse> AdmittedInferAsync(ModelInferRequest message, ServerCallContext context, Tenant tenant)
    {
        if (await tenant.EnterAsync(context.CancellationToken) is { } refusal)
        {
            throw new InferenceException(ErrorKind.QuotaExceeded, $"{refusal.Message}; retry in {refusal.RetryAfterSeconds} s");
        }
        try
        {
            return await pipeline.RunAsync<GrpcInferenceExchange, ModelInferResponse>(
                message.ModelName, message.ModelVersion, new GrpcInferenceExchange(message, context, pool, sharedMemory, tenant), context.CancellationToken);
        }
        finally
        {
            tenant.Exit();
        }
    }

    public override Task<ModelConfigResponse> ModelConfig(ModelConfigRequest request, ServerCallContext context) =>
        Task.FromResult(new ModelConfigResponse { Config = ServerViews.Config(Resolve(request.Name, request.Version)) });

    public override Task<ModelStatisticsResponse> ModelStatistics(ModelStatisticsRequest request, ServerCallContext context)
    {
        var selected = request.Name.Length == 0 ? models.LoadedModels
            : request.Version.Length == 0 ? models.ServedVersions(Resolve(request.Name, ""))
            : [Resolve(request.Name, request.Version)];
        return Task.FromResult(ServerViews.Statistics(selected));
    }

    public override Task<RepositoryIndexResponse> RepositoryIndex(RepositoryIndexRequest request, ServerCallContext context) =>
        Task.FromResult(ServerViews.RepositoryIndex(models, request.Ready));

    public override async Task<RepositoryModelLoadResponse> RepositoryModelLoad(RepositoryModelLoadRequest request, ServerCallContext context)
    {
        try
        {
            ServerViews.RejectModelFilesInLoadParameters(request.Parameters.Keys);
            await models.LoadAsync(request.ModelName, context.CancellationToken);
            return new RepositoryModelLoadResponse();
        }
        catch (InferenceException e)
        {
            throw GrpcErrors.ToRpcException(e);
        }
    }

    public override async Task<RepositoryModelUnloadResponse> RepositoryModelUnload(RepositoryModelUnloadRequest request, ServerCallContext context)
    {
        try
        {
            await models.UnloadAsync(request.ModelName, context.CancellationToken);
            return new RepositoryModelUnloadResponse();
        }
        catch (InferenceException e)
        {
            throw GrpcErrors.ToRpcException(e);
        }
    }

    /// <summary>Triton's trace extension: the same answer as HTTP's /v2/trace/setting
    /// (<see cref="TraceSettingExchange"/>); an empty value list clears a setting.</summary>
    public override Task<TraceSettingResponse> TraceSetting(TraceSettingRequest request, ServerCallContext context)
    {
        try
        {
            var tracing = context.GetHttpContext().RequestServices.GetRequiredService<InferenceTracing>();
            return Task.FromResult(TraceSettingExchange.Answer(tracing, models, request));
        }
        catch (InferenceException e)
        {
            throw GrpcErrors.ToRpcException(e, context);
        }
    }

    public override Task<SystemSharedMemoryStatusResponse> SystemSharedMemoryStatus(SystemSharedMemoryStatusRequest request, ServerCallContext context) =>
        SharedMemoryCall(context, (remote, _) =>
        {
            var response = new SystemSharedMemoryStatusResponse();
            foreach (var region in sharedMemory.Status(request.Name, remote))
            {
                response.Regions.Add(region.Name, new SystemSharedMemoryStatusResponse.Types.RegionStatus
                {
                    Name = region.Name, Key = region.Key, Offset = (ulong)region.Offset, ByteSize = (ulong)region.ByteSize,
                });
            }
            return response;
        });

    public override Task<SystemSharedMemoryRegisterResponse> SystemSharedMemoryRegister(SystemSharedMemoryRegisterRequest request, ServerCallContext context) =>
        SharedMemoryCall(context, (remote, caller) =>
        {
            sharedMemory.Register(request.Name, request.Key, request.Offset, request.ByteSize, remote, caller);
            return new SystemSharedMemoryRegisterResponse();
        });

    public override Task<SystemSharedMemoryUnregisterResponse> SystemSharedMemoryUnregister(SystemSharedMemoryUnregisterRequest request, ServerCallContext context) =>
        SharedMemoryCall(context, (remote, caller) =>
        {
            sharedMemory.Unregister(request.Name, remote, caller);
            return new SystemSharedMemoryUnregisterResponse();
        });

    public override Task<CudaSharedMemoryStatusResponse> CudaSharedMemoryStatus(CudaSharedMemoryStatusRequest request, ServerCallContext context) =>
        SharedMemoryCall(context, (remote, _) =>
        {
            var response = new CudaSharedMemoryStatusResponse();
            foreach (var region in sharedMemory.CudaStatus(request.Name, remote))
            {
                response.Regions.Add(region.Name, new CudaSharedMemoryStatusResponse.Types.RegionStatus
                {
                    Name = region.Name, DeviceId = (ulong)region.DeviceId, ByteSize = (ulong)region.ByteSize,
                });
            }
            return response;
        });

    public override Task<CudaSharedMemoryRegisterResponse> CudaSharedMemoryRegister(CudaSharedMemoryRegisterRequest request, ServerCallContext context) =>
        SharedMemoryCall(context, (remote, caller) =>
        {
            sharedMemory.RegisterCuda(request.Name, request.RawHandle.Span, request.DeviceId, request.ByteSize, remote, caller);
            return new CudaSharedMemoryRegisterResponse();
        });

    public override Task<CudaSharedMemoryUnregisterResponse> CudaSharedMemoryUnregister(CudaSharedMemoryUnregisterRequest request, ServerCallContext context) =>
        SharedMemoryCall(context, (remote, caller) =>
        {
            sharedMemory.UnregisterCuda(request.Name, remote, caller);
            return new CudaSharedMemoryUnregisterResponse();
        });

    /// <summary>Runs a shared-memory call for the client of <paramref name="context"/> (its address,
    /// and its key's id when API keys are on), answering a refusal with its status.</summary>
    private static Task<T> SharedMemoryCall<T>(ServerCallContext context, Func<IPAddress?, string?, T> call)
    {
        var http = context.GetHttpContext();
        try
        {
            return Task.FromResult(call(http.Connection.RemoteIpAddress, http.Items[SharedMemoryRegistry.CallerItem] as string));
        }
        catch (InferenceException e)
        {
            throw GrpcErrors.ToRpcException(e, context);
        }
    }

    private LoadedModel Resolve(string name, string version)
    {
        try
        {
            return models.Resolve(name, version);
        }
        catch (InferenceException e)
        {
            throw GrpcErrors.ToRpcException(e);
        }
    }

}
