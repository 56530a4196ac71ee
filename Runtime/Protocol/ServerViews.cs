using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Protocol.Triton;
using Fabrik.Tensors;
using WireConfig = Fabrik.Protocol.Triton.ModelConfig;
using WireStatistics = Fabrik.Protocol.Triton.ModelStatistics;

namespace Fabrik.Protocol;

/// <summary>
/// What the server says about itself and its models, built once as Triton's protobuf messages:
/// gRPC returns them as they are, and HTTP renders them as JSON (Http/ServerViewsJson.cs), the
/// way Triton does. So the two protocols cannot disagree about a model.
/// </summary>
internal static class ServerViews
{
    public static ServerMetadataResponse ServerMetadata(ServerIdentity identity)
    {
        var response = new ServerMetadataResponse { Name = identity.Name, Version = identity.Version };
        response.Extensions.AddRange(identity.Extensions);
        return response;
    }

    /// <summary>Model metadata: <paramref name="served"/> are the versions served beside it.</summary>
    public static ModelMetadataResponse ModelMetadata(LoadedModel model, IEnumerable<LoadedModel> served)
    {
        var config = model.Config;
        var response = new ModelMetadataResponse { Name = model.Name, Platform = config.Platform.Length > 0 ? config.Platform : config.Backend };
        foreach (var version in served)
        {
            response.Versions.Add(version.VersionText);
        }
        AddTensorMetadata(response.Inputs, config.Inputs, config.MaxBatchSize);
        AddTensorMetadata(response.Outputs, config.Outputs, config.MaxBatchSize);
        return response;
    }

    private static void AddTensorMetadata(
        Google.Protobuf.Collections.RepeatedField<ModelMetadataResponse.Types.TensorMetadata> target, IEnumerable<TensorConfig> tensors, int maxBatchSize)
    {
        foreach (var tensor in tensors)
        {
            var metadata = new ModelMetadataResponse.Types.TensorMetadata { Name = tensor.Name, Datatype = tensor.DataType.WireName() };
            if (maxBatchSize > 0)
            {
                metadata.Shape.Add(-1);
            }
            metadata.Shape.AddRange(tensor.Dims);
            target.Add(metadata);
        }
    }

    /// <summary>The configuration the model was loaded with: config.pbtxt after auto-complete and
    /// placement, with the model file actually loaded.</summary>
    public static WireConfig Config(LoadedModel model)
    {
        var config = model.Config;
        var message = new WireConfig
        {
            Name = config.Name,
            Platform = config.Platform,
            Backend = config.Backend,
            MaxBatchSize = config.MaxBatchSize,
            DefaultModelFilename = model.ModelFileName,
            VersionPolicy = VersionPolicy(config.VersionPolicy),
            Optimization = Optimization(config.Optimization),
            ResponseCache = new ModelResponseCache { Enable = config.ResponseCache },
        };
        foreach (var input in config.Inputs)
        {
            var wire = new ModelInput { Name = input.Name, DataType = WireType(input.DataType), Optional = input.Optional, Reshape = Reshape(input) };
            wire.Dims.AddRange(input.Dims);
            message.Input.Add(wire);
        }
        foreach (var output in config.Outputs)
        {
            var wire = new ModelOutput { Name = output.Name, DataType = WireType(output.DataType), Reshape = Reshape(output) };
            wire.Dims.AddRange(output.Dims);
            message.Output.Add(wire);
        }
        // An ensemble has no instances of its own (Triton lists none); its steps' models do.
        foreach (var group in config.Ensemble is null ? config.InstanceGroups : [])
        {
            var wire = new ModelInstanceGroup
            {
                Name = group.Name,
                Count = group.Count,
                Kind = group.Kind switch
                {
                    InstanceKind.Gpu => ModelInstanceGroup.Types.Kind.Gpu,
                    InstanceKind.Cpu => ModelInstanceGroup.Types.Kind.Cpu,
                    _ => ModelInstanceGroup.Types.Kind.Auto,
                },
            };
            wire.Gpus.AddRange(group.Gpus);
            message.InstanceGroup.Add(wire);
        }
        if (config.DynamicBatching is { } batching)
        {
            message.DynamicBatching = DynamicBatching(batching);
        }
        if (config.SequenceBatching is { } sequences)
        {
            message.SequenceBatching = SequenceBatchingView.Of(sequences);
        }
        if (config.Ensemble is { } ensemble)
        {
            message.EnsembleScheduling = Ensemble(ensemble);
        }
        foreach (var (key, value) in config.Parameters)
        {
            message.Parameters[key] = new ModelParameter { StringValue = value };
        }
        foreach (var sample in config.Warmup)
        {
            message.ModelWarmup.Add(Warmup(sample));
        }
        return message;
    }

    private static ModelEnsembling Ensemble(EnsembleSchedulingConfig ensemble)
    {
        var message = new ModelEnsembling { MaxInflightResponses = (uint)ensemble.MaxInflightRequests };
        foreach (var step in ensemble.Steps)
        {
            var wire = new ModelEnsembling.Types.Step { ModelName = step.ModelName, ModelVersion = step.ModelVersion };
            wire.InputMap.Add(step.InputMap);
            wire.OutputMap.Add(step.OutputMap);
            message.Step.Add(wire);
        }
        return message;
    }

    private static ModelVersionPolicy VersionPolicy(Configuration.VersionPolicy policy) => policy.Kind switch
    {
        VersionPolicyKind.All => new ModelVersionPolicy { All = new ModelVersionPolicy.Types.All() },
        VersionPolicyKind.Specific => new ModelVersionPolicy { Specific = new ModelVersionPolicy.Types.Specific { Versions = { policy.Versions } } },
        _ => new ModelVersionPolicy { Latest = new ModelVersionPolicy.Types.Latest { NumVersions = (uint)policy.NumVersions } },
    };

    private static ModelTensorReshape? Reshape(TensorConfig tensor) =>
        tensor.Reshape is { } reshape ? new ModelTensorReshape { Shape = { reshape } } : null;

    private static ModelDynamicBatching DynamicBatching(DynamicBatchingConfig batching)
    {
        var message = new ModelDynamicBatching
        {
            MaxQueueDelayMicroseconds = (ulong)batching.MaxQueueDelayMicroseconds,
            PreserveOrdering = batching.PreserveOrdering,
            PriorityLevels = (ulong)batching.PriorityLevels,
            DefaultPriorityLevel = (ulong)batching.DefaultPriorityLevel,
            DefaultQueuePolicy = QueuePolicy(batching.DefaultQueuePolicy),
        };
        message.PreferredBatchSize.AddRange(batching.PreferredBatchSizes);
        foreach (var (level, policy) in batching.PriorityQueuePolicies)
        {
            message.PriorityQueuePolicy[(ulong)level] = QueuePolicy(policy);
        }
        return message;
    }

    private static ModelQueuePolicy QueuePolicy(QueuePolicyConfig policy) => new()
    {
        TimeoutAction = policy.TimeoutAction == TimeoutAction.Delay ? ModelQueuePolicy.Types.TimeoutAction.Delay : ModelQueuePolicy.Types.TimeoutAction.Reject,
        DefaultTimeoutMicroseconds = (ulong)policy.DefaultTimeoutMicroseconds,
        AllowTimeoutOverride = policy.AllowTimeoutOverride,
        MaxQueueSize = (uint)policy.MaxQueueSize,
    };

    private static ModelOptimizationPolicy Optimization(OptimizationConfig optimization)
    {
        var message = new ModelOptimizationPolicy
        {
            Graph = optimization.GraphLevel is { } level ? new ModelOptimizationPolicy.Types.Graph { Level = level } : null,
        };
        if (optimization.GpuAccelerators.Length > 0)
        {
            message.ExecutionAccelerators = new ModelOptimizationPolicy.Types.ExecutionAccelerators();
            foreach (var accelerator in optimization.GpuAccelerators)
            {
                var wire = new ModelOptimizationPolicy.Types.ExecutionAccelerators.Types.Accelerator { Name = accelerator.Name };
                wire.Parameters.Add(accelerator.Parameters);
                message.ExecutionAccelerators.GpuExecutionAccelerator.Add(wire);
            }
        }
        return message;
    }

    private static Triton.ModelWarmup Warmup(WarmupSample sample)
    {
        var message = new Triton.ModelWarmup { Name = sample.Name, BatchSize = (uint)sample.BatchSize, Count = (uint)sample.Count };
        foreach (var input in sample.Inputs)
        {
            var wire = new Triton.ModelWarmup.Types.Input { DataType = WireType(input.DataType) };
            wire.Dims.AddRange(input.Dims);
            switch (input.Data)
            {
                case WarmupData.Random:
                    wire.RandomData = true;
                    break;
                case WarmupData.File:
                    wire.InputDataFile = input.FileName;
                    break;
                default:
                    wire.ZeroData = true;
                    break;
            }
            message.Inputs[input.Name] = wire;
        }
        return message;
    }

    /// <summary>Triton's config DataType enum; TYPE_STRING is BYTES.</summary>
    internal static Triton.DataType WireType(Tensors.DataType type) => type switch
    {
        Tensors.DataType.Bool => Triton.DataType.TypeBool,
        Tensors.DataType.UInt8 => Triton.DataType.TypeUint8,
        Tensors.DataType.UInt16 => Triton.DataType.TypeUint16,
        Tensors.DataType.UInt32 => Triton.DataType.TypeUint32,
        Tensors.DataType.UInt64 => Triton.DataType.TypeUint64,
        Tensors.DataType.Int8 => Triton.DataType.TypeInt8,
        Tensors.DataType.Int16 => Triton.DataType.TypeInt16,
        Tensors.DataType.Int32 => Triton.DataType.TypeInt32,
        Tensors.DataType.Int64 => Triton.DataType.TypeInt64,
        Tensors.DataType.Fp16 => Triton.DataType.TypeFp16,
        Tensors.DataType.Bf16 => Triton.DataType.TypeBf16,
        Tensors.DataType.Fp32 => Triton.DataType.TypeFp32,
        Tensors.DataType.Fp64 => Triton.DataType.TypeFp64,
        Tensors.DataType.Bytes => Triton.DataType.TypeString,
        _ => Triton.DataType.TypeInvalid,
    };

    /// <summary>The statistics extension's counters for each of <paramref name="models"/>.</summary>
    public static ModelStatisticsResponse Statistics(IEnumerable<LoadedModel> models)
    {
        var response = new ModelStatisticsResponse();
        foreach (var model in models)
        {
            response.ModelStats.Add(Statistics(model));
        }
        return response;
    }

    private static WireStatistics Statistics(LoadedModel model)
    {
        var statistics = model.Statistics;
        var message = new WireStatistics
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
                CacheHit = Duration(statistics.CacheHit),
                CacheMiss = Duration(statistics.CacheMiss),
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

    /// <summary>The repository index: one row per served version, one row without a version for a
    /// model that serves none (so its state and reason show), and, unless only READY models are
    /// asked for, a row with just the name for each model in the repositories that was never
    /// loaded (explicit mode), as Triton lists them.</summary>
    public static RepositoryIndexResponse RepositoryIndex(ModelManager models, bool readyOnly)
    {
        var response = new RepositoryIndexResponse();
        var entries = models.Models;
        var rows = readyOnly ? entries.Keys : entries.Keys.Union(models.ModelsInRepositories(), StringComparer.Ordinal);
        foreach (var name in rows.Order(StringComparer.Ordinal))
        {
            if (!entries.TryGetValue(name, out var entry))
            {
                response.Models.Add(new RepositoryIndexResponse.Types.ModelIndex { Name = name });
                continue;
            }
            if (readyOnly && entry.State != ModelState.Ready)
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
        return response;
    }

    /// <summary>The load API's parameters may not smuggle model files or a configuration in: a
    /// client can only have the server load what the repository already holds.</summary>
    /// <exception cref="InferenceException">InvalidArgument naming the refused parameter.</exception>
    public static void RejectModelFilesInLoadParameters(IEnumerable<string> parameterNames)
    {
        foreach (var name in parameterNames)
        {
            if (name == "config" || name.StartsWith("file:", StringComparison.Ordinal))
            {
                throw InferenceException.InvalidArgument(
                    $"the load API does not accept model files or configuration in its body (parameter '{name}'); put the model in the repository");
            }
        }
    }
}
