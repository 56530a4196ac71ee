using System.Diagnostics;
using Fabrik.Models;
using Fabrik.Protocol.Grpc.Wire;
using Fabrik.Protocol.Http;
using Fabrik.Scheduling;
using Fabrik.Tensors;
using Grpc.Core;
using WireModelConfig = Fabrik.Protocol.Grpc.Wire.ModelConfig;

namespace Fabrik.Protocol.Grpc;

/// <summary>
/// <c>inference.GRPCInferenceService</c>, wire-compatible with Triton's. Errors become
/// RpcExceptions with the matching status code (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, ...).
/// </summary>
[BindServiceMethod(typeof(GRPCInferenceService), nameof(GRPCInferenceService.BindServiceRejectingMalformedMessages))]
internal sealed class GrpcInferenceService(ModelManager models, TensorMemoryPool pool, ServerIdentity identity)
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

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context)
    {
        var response = new ServerMetadataResponse { Name = identity.Name, Version = identity.Version };
        response.Extensions.AddRange(identity.Extensions);
        return Task.FromResult(response);
    }

    public override Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context)
    {
        var model = Resolve(request.Name, request.Version);
        var config = model.Config;
        var response = new ModelMetadataResponse { Name = model.Name, Platform = config.Platform.Length > 0 ? config.Platform : config.Backend };
        response.Versions.AddRange(models.ServedVersions(model).Select(version => version.VersionText));
        foreach (var (tensors, target) in new[] { (config.Inputs, response.Inputs), (config.Outputs, response.Outputs) })
        {
            foreach (var tensor in tensors)
            {
                var metadata = new ModelMetadataResponse.Types.TensorMetadata { Name = tensor.Name, Datatype = tensor.DataType.WireName() };
                if (config.MaxBatchSize > 0)
                {
                    metadata.Shape.Add(-1);
                }
                metadata.Shape.AddRange(tensor.Dims);
                target.Add(metadata);
            }
        }
        return Task.FromResult(response);
    }

    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        try
        {
            return await InferAsync(request, context.CancellationToken);
        }
        catch (InferenceException e)
        {
            throw ToRpcException(e);
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
                message = new ModelStreamInferResponse { InferResponse = await InferAsync(request, context.CancellationToken) };
            }
            catch (InferenceException e)
            {
                message = new ModelStreamInferResponse { ErrorMessage = e.Message, InferResponse = new ModelInferResponse { Id = request.Id } };
            }
            await responseStream.WriteAsync(message, context.CancellationToken);
        }
    }

    private async Task<ModelInferResponse> InferAsync(ModelInferRequest message, CancellationToken cancellation)
    {
        var received = Stopwatch.GetTimestamp();
        using var lease = models.Acquire(message.ModelName, message.ModelVersion);
        var model = lease.Model;
        InferenceRequest request;
        try
        {
            request = GrpcTensorCodec.Decode(message, model, pool, cancellation);
        }
        catch (InferenceException)
        {
            model.Statistics.RecordFailure(received);
            throw;
        }
        using (request)
        {
            request.ReceivedTimestamp = received;
            using var response = await model.Scheduler.InferAsync(request);
            return GrpcTensorCodec.Encode(request, response);
        }
    }

    public override Task<ModelConfigResponse> ModelConfig(ModelConfigRequest request, ServerCallContext context)
    {
        var model = Resolve(request.Name, request.Version);
        return Task.FromResult(new ModelConfigResponse { Config = GrpcModelConfig.From(model.Config, model.ModelFileName) });
    }

    public override Task<ModelStatisticsResponse> ModelStatistics(ModelStatisticsRequest request, ServerCallContext context)
    {
        var selected = request.Name.Length == 0 ? models.LoadedModels
            : request.Version.Length == 0 ? models.ServedVersions(Resolve(request.Name, ""))
            : [Resolve(request.Name, request.Version)];
        var response = new ModelStatisticsResponse();
        foreach (var model in selected)
        {
            response.ModelStats.Add(GrpcModelConfig.Statistics(model));
        }
        return Task.FromResult(response);
    }

    public override Task<RepositoryIndexResponse> RepositoryIndex(RepositoryIndexRequest request, ServerCallContext context)
    {
        var response = new RepositoryIndexResponse();
        foreach (var entry in models.Models.Values.OrderBy(entry => entry.Name, StringComparer.Ordinal))
        {
            if (request.Ready && entry.State != ModelState.Ready)
            {
                continue;
            }
            IEnumerable<string> versions = entry.Versions.IsEmpty ? [""] : entry.Versions.Values.Select(version => version.VersionText);
            foreach (var version in versions)
            {
                response.Models.Add(new RepositoryIndexResponse.Types.ModelIndex
                {
                    Name = entry.Name,
                    Version = version,
                    State = ModelEntry.StateName(entry.State),
                    Reason = ModelHealth.Reason(entry),
                });
            }
        }
        return Task.FromResult(response);
    }

    public override async Task<RepositoryModelLoadResponse> RepositoryModelLoad(RepositoryModelLoadRequest request, ServerCallContext context)
    {
        // Parameters may not smuggle model files or a configuration in: only the repository is loaded from.
        foreach (var key in request.Parameters.Keys)
        {
            if (key == "config" || key.StartsWith("file:", StringComparison.Ordinal))
            {
                throw ToRpcException(InferenceException.InvalidArgument($"the load API does not accept model files or configuration (parameter '{key}'); put the model in the repository"));
            }
        }
        try
        {
            await models.LoadAsync(request.ModelName, context.CancellationToken);
            return new RepositoryModelLoadResponse();
        }
        catch (InferenceException e)
        {
            throw ToRpcException(e);
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
            throw ToRpcException(e);
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
            throw ToRpcException(e);
        }
    }

    /// <summary>Maps a protocol error to the gRPC status Triton uses for it.</summary>
    public static RpcException ToRpcException(InferenceException error) => new(new Status(error.Kind switch
    {
        ErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        ErrorKind.NotFound => StatusCode.NotFound,
        ErrorKind.Unavailable => StatusCode.Unavailable,
        ErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        ErrorKind.DeadlineExceeded => StatusCode.DeadlineExceeded,
        ErrorKind.Unsupported => StatusCode.Unimplemented,
        _ => StatusCode.Internal,
    }, error.Message));
}

/// <summary>Builds the gRPC forms of the configuration and statistics.</summary>
internal static class GrpcModelConfig
{
    public static WireModelConfig From(Models.Configuration.ModelConfig config, string modelFileName)
    {
        var message = new WireModelConfig
        {
            Name = config.Name,
            Platform = config.Platform,
            Backend = config.Backend,
            MaxBatchSize = config.MaxBatchSize,
            DefaultModelFilename = modelFileName,
            VersionPolicy = new ModelVersionPolicy { Latest = new ModelVersionPolicy.Types.Latest { NumVersions = 1 } },
        };
        foreach (var input in config.Inputs)
        {
            var wire = new ModelInput { Name = input.Name, DataType = (Wire.DataType)WireDataType(input.DataType), Optional = input.Optional };
            wire.Dims.AddRange(input.Dims);
            message.Input.Add(wire);
        }
        foreach (var output in config.Outputs)
        {
            var wire = new ModelOutput { Name = output.Name, DataType = (Wire.DataType)WireDataType(output.DataType) };
            wire.Dims.AddRange(output.Dims);
            message.Output.Add(wire);
        }
        foreach (var group in config.InstanceGroups)
        {
            var wire = new ModelInstanceGroup
            {
                Name = group.Name,
                Count = group.Count,
                Kind = group.Kind switch
                {
                    Models.Configuration.InstanceKind.Gpu => ModelInstanceGroup.Types.Kind.Gpu,
                    Models.Configuration.InstanceKind.Cpu => ModelInstanceGroup.Types.Kind.Cpu,
                    _ => ModelInstanceGroup.Types.Kind.Auto,
                },
            };
            wire.Gpus.AddRange(group.Gpus);
            message.InstanceGroup.Add(wire);
        }
        if (config.DynamicBatching is { } batching)
        {
            message.DynamicBatching = new ModelDynamicBatching
            {
                MaxQueueDelayMicroseconds = (ulong)batching.MaxQueueDelayMicroseconds,
                PreserveOrdering = batching.PreserveOrdering,
            };
            message.DynamicBatching.PreferredBatchSize.AddRange(batching.PreferredBatchSizes);
        }
        foreach (var (key, value) in config.Parameters)
        {
            message.Parameters[key] = new ModelParameter { StringValue = value };
        }
        return message;
    }

    public static Wire.ModelStatistics Statistics(LoadedModel model)
    {
        var statistics = model.Statistics;
        var message = new Wire.ModelStatistics
        {
            Name = model.Name,
            Version = model.VersionText,
            LastInference = (ulong)statistics.LastInferenceMilliseconds,
            InferenceCount = (ulong)statistics.InferenceCount,
            ExecutionCount = (ulong)statistics.ExecutionCount,
            InferenceStats = new InferStatistics
            {
                Success = Duration(statistics.Success),
                Fail = Duration(statistics.Fail),
                Queue = Duration(statistics.Queue),
                ComputeInput = Duration(statistics.ComputeInput),
                ComputeInfer = Duration(statistics.ComputeInfer),
                ComputeOutput = Duration(statistics.ComputeOutput),
                CacheHit = new StatisticDuration(),
                CacheMiss = new StatisticDuration(),
            },
        };
        foreach (var batch in statistics.ExecutedBatches)
        {
            message.BatchStats.Add(new InferBatchStatistics
            {
                BatchSize = (ulong)batch.BatchSize,
                ComputeInput = Duration(batch.ComputeInput),
                ComputeInfer = Duration(batch.ComputeInfer),
                ComputeOutput = Duration(batch.ComputeOutput),
            });
        }
        return message;
    }

    private static StatisticDuration Duration(Observability.StatisticDuration duration) =>
        new() { Count = (ulong)duration.Count, Ns = (ulong)duration.Nanoseconds };

    // Triton's DataType enum numbers; TYPE_STRING is BYTES.
    private static int WireDataType(Tensors.DataType type) => type switch
    {
        Tensors.DataType.Bool => 1,
        Tensors.DataType.UInt8 => 2,
        Tensors.DataType.UInt16 => 3,
        Tensors.DataType.UInt32 => 4,
        Tensors.DataType.UInt64 => 5,
        Tensors.DataType.Int8 => 6,
        Tensors.DataType.Int16 => 7,
        Tensors.DataType.Int32 => 8,
        Tensors.DataType.Int64 => 9,
        Tensors.DataType.Fp16 => 10,
        Tensors.DataType.Fp32 => 11,
        Tensors.DataType.Fp64 => 12,
        Tensors.DataType.Bytes => 13,
        Tensors.DataType.Bf16 => 14,
        _ => 0,
    };
}
