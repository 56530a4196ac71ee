using System.Collections.Immutable;
using Fabrik.Tensors;
using static Fabrik.Configuration.TextFieldValues;

namespace Fabrik.Configuration;

/// <summary>
/// Turns config.pbtxt text into a <see cref="ModelConfig"/>. Malformed text or a value of the
/// wrong kind throws <see cref="ConfigFormatException"/> with its line and column. Well-formed
/// fields that Fabrik does not act on are listed in <see cref="ModelConfig.IgnoredFields"/> so the
/// loader can warn about each by name.
/// </summary>
internal static class ModelConfigReader
{
    /// <summary>Parses config.pbtxt text.</summary>
    public static ModelConfig Parse(string text, string modelName)
    {
        var root = TextFormatParser.Parse(text);
        var ignored = ImmutableArray.CreateBuilder<string>();
        string? name = null;
        string platform = "", backend = "", defaultModelFilename = "";
        var maxBatchSize = 0;
        var maxBatchSizeSpecified = false;
        var versionPolicy = VersionPolicy.Latest(1);
        var warmup = ImmutableArray.CreateBuilder<WarmupSample>();
        var optimization = OptimizationConfig.Default;
        var inputs = ImmutableArray.CreateBuilder<TensorConfig>();
        var outputs = ImmutableArray.CreateBuilder<TensorConfig>();
        var instanceGroups = ImmutableArray.CreateBuilder<InstanceGroupConfig>();
        var parameters = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        DynamicBatchingConfig? dynamicBatching = null;
        bool responseCache = false, decoupled = false;
        SequenceBatchingConfig? sequenceBatching = null;
        EnsembleSchedulingConfig? ensemble = null;

        foreach (var field in root.Fields)
        {
            switch (field.Name)
            {
                case "name": name = String(field); break;
                case "platform": platform = String(field); break;
                case "backend": backend = String(field); break;
                case "max_batch_size":
                    maxBatchSize = Int32(field);
                    maxBatchSizeSpecified = true;
                    break;
                case "version_policy": versionPolicy = ReadVersionPolicy(field); break;
                case "model_warmup": warmup.Add(ReadWarmup(field)); break;
                case "optimization": optimization = ReadOptimization(field, ignored); break;
                case "default_model_filename": defaultModelFilename = String(field); break;
                case "input": inputs.Add(Tensor(field, ignored)); break;
                case "output": outputs.Add(Tensor(field, ignored)); break;
                case "instance_group": instanceGroups.Add(InstanceGroup(field, instanceGroups.Count, ignored)); break;
                case "dynamic_batching": dynamicBatching = DynamicBatching(field, ignored); break;
                case "sequence_batching": sequenceBatching = SequenceBatchingReader.Read(field, ignored); break;
                case "ensemble_scheduling": ensemble = EnsembleSchedulingReader.Read(field); break;
                case "parameters": Parameter(field, parameters); break;
                case "response_cache": responseCache = BlockSwitch(field, "enable", ignored); break;
                case "model_transaction_policy":
                    // Still ignored (Fabrik serves no decoupled model), but read so that the
                    // response cache leaves decoupled models alone.
                    decoupled = BlockSwitch(field, "decoupled", ignored);
                    ignored.Add(field.Name);
                    break;
                default: ignored.Add(field.Name); break;
            }
        }

        if (name is not null && name != modelName)
        {
            throw new ConfigFormatException($"config name '{name}' does not match the model folder '{modelName}'");
        }
        if (maxBatchSize < 0)
        {
            throw new ConfigFormatException($"max_batch_size must not be negative, got {maxBatchSize}");
        }
        if (dynamicBatching is not null && sequenceBatching is not null)
        {
            throw new ConfigFormatException("dynamic_batching and sequence_batching are both set; a model has one scheduler (Triton's scheduling_choice)");
        }
        EnsembleSchedulingReader.CheckPlatform(platform, ensemble, dynamicBatching is not null || sequenceBatching is not null);
        RejectDuplicates(inputs, "input");
        RejectDuplicates(outputs, "output");
        if (instanceGroups.Count == 0)
        {
            instanceGroups.Add(new InstanceGroupConfig(modelName + "_0", InstanceGroupConfig.DefaultCount, InstanceKind.Auto, []));
        }

        return new ModelConfig
        {
            Name = modelName,
            Platform = platform,
            Backend = backend,
            MaxBatchSize = maxBatchSize,
            MaxBatchSizeSpecified = maxBatchSizeSpecified,
            VersionPolicy = versionPolicy,
            Warmup = warmup.ToImmutable(),
            Optimization = optimization,
            DefaultModelFilename = defaultModelFilename,
            Inputs = inputs.ToImmutable(),
            Outputs = outputs.ToImmutable(),
            InstanceGroups = instanceGroups.ToImmutable(),
            DynamicBatching = dynamicBatching,
            SequenceBatching = sequenceBatching,
            Ensemble = ensemble,
            Parameters = parameters.ToImmutable(),
            ResponseCache = responseCache,
            Decoupled = decoupled,
            IgnoredFields = ignored.ToImmutable(),
        };
    }

    private static OptimizationConfig ReadOptimization(TextField field, ImmutableArray<string>.Builder ignored)
    {
        int? level = null;
        var gpu = ImmutableArray.CreateBuilder<ExecutionAccelerator>();
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "graph":
                    foreach (var setting in Message(child).Fields)
                    {
                        if (setting.Name == "level")
                        {
                            level = Int32(setting);
                        }
                        else
                        {
                            ignored.Add($"optimization.graph.{setting.Name}");
                        }
                    }
                    break;
                case "execution_accelerators":
                    foreach (var list in Message(child).Fields)
                    {
                        if (list.Name == "gpu_execution_accelerator")
                        {
                            gpu.Add(ReadAccelerator(list));
                        }
                        else
                        {
                            ignored.Add($"optimization.execution_accelerators.{list.Name}");
                        }
                    }
                    break;
                default:
                    ignored.Add($"optimization.{child.Name}");
                    break;
            }
        }
        return new OptimizationConfig(level, gpu.ToImmutable());
    }

    private static ExecutionAccelerator ReadAccelerator(TextField field)
    {
        var name = "";
        var parameters = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var child in Message(field).Fields)
        {
            if (child.Name == "name")
            {
                name = String(child);
            }
            else if (child.Name == "parameters")
            {
                var entry = Message(child);
                var key = entry.Fields.FirstOrDefault(f => f.Name == "key");
                var value = entry.Fields.FirstOrDefault(f => f.Name == "value");
                if (key is null || value is null)
                {
                    throw ConfigFormatException.At(child.Position, "accelerator parameters need a key and a value");
                }
                parameters[String(key)] = String(value);
            }
        }
        return name is "tensorrt" or "cuda"
            ? new ExecutionAccelerator(name, parameters.ToImmutable())
            : throw ConfigFormatException.At(field.Position, $"unsupported gpu_execution_accelerator '{name}'; Fabrik knows tensorrt and cuda");
    }

    private static WarmupSample ReadWarmup(TextField field)
    {
        string name = "";
        int batchSize = 1, count = 1;
        var inputs = ImmutableArray.CreateBuilder<WarmupInput>();
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "name": name = String(child); break;
                case "batch_size": batchSize = Math.Max(1, Int32(child)); break;
                case "count": count = Math.Max(1, Int32(child)); break;
                case "inputs":
                    var entry = Message(child);
                    var key = entry.Fields.FirstOrDefault(f => f.Name == "key") ?? throw ConfigFormatException.At(child.Position, "model_warmup inputs need a key");
                    var value = entry.Fields.FirstOrDefault(f => f.Name == "value") ?? throw ConfigFormatException.At(child.Position, "model_warmup inputs need a value");
                    inputs.Add(ReadWarmupInput(String(key), value));
                    break;
                default:
                    throw ConfigFormatException.At(child.Position, $"unknown model_warmup field '{child.Name}'");
            }
        }
        return new WarmupSample(name, batchSize, count, inputs.ToImmutable());
    }

    private static WarmupInput ReadWarmupInput(string name, TextField field)
    {
        var dataType = DataType.Invalid;
        var dims = ImmutableArray.CreateBuilder<long>();
        var data = WarmupData.Zero;
        var file = "";
        foreach (var child in Message(field).Fields)
        {
            switch (child.Name)
            {
                case "data_type": dataType = DataTypes.FromConfigName(Identifier(child)); break;
                case "dims": dims.Add(Int64(child)); break;
                case "zero_data": data = WarmupData.Zero; break;
                case "random_data": data = WarmupData.Random; break;
                case "input_data_file":
                    data = WarmupData.File;
                    file = String(child);
                    break;
                default:
                    throw ConfigFormatException.At(child.Position, $"unknown model_warmup input field '{child.Name}'");
            }
        }
        if (dataType == DataType.Invalid)
        {
            throw ConfigFormatException.At(field.Position, $"model_warmup input '{name}' needs a data_type");
        }
        return new WarmupInput(name, dataType, dims.ToImmutable(), data, file);
    }

    private static VersionPolicy ReadVersionPolicy(TextField field)
    {
        var choice = Message(field).Fields.SingleOrDefault()
            ?? throw ConfigFormatException.At(field.Position, "version_policy needs exactly one of latest, all or specific");
        var body = Message(choice);
        switch (choice.Name)
        {
            case "latest":
                var count = body.Fields.Where(f => f.Name == "num_versions").Select(Int32).DefaultIfEmpty(1).Last();
                return count >= 1 ? VersionPolicy.Latest(count) : throw ConfigFormatException.At(choice.Position, $"num_versions must be at least 1, got {count}");
            case "all":
                return new VersionPolicy(VersionPolicyKind.All, 0, []);
            case "specific":
                var versions = body.Fields.Where(f => f.Name == "versions").Select(Int64).ToImmutableArray();
                return versions.Length > 0 ? new VersionPolicy(VersionPolicyKind.Specific, 0, versions) : throw ConfigFormatException.At(choice.Position, "specific needs at least one version");
            default:
                throw ConfigFormatException.At(choice.Position, $"unknown version_policy '{choice.Name}'; expected latest, all or specific");
        }
    }

    private static TensorConfig Tensor(TextField field, ImmutableArray<string>.Builder ignored)
    {
        var message = Message(field);
        string? name = null;
        var dataType = DataType.Invalid;
        var dims = ImmutableArray.CreateBuilder<long>();
        var optional = false;
        ImmutableArray<long>? reshape = null;
        foreach (var child in message.Fields)
        {
            switch (child.Name)
            {
                case "name": name = String(child); break;
                case "reshape":
                    reshape = Message(child).Fields.Where(f => f.Name == "shape").Select(Int64).ToImmutableArray();
                    break;
                case "data_type":
                    var typeName = Identifier(child);
                    dataType = DataTypes.FromConfigName(typeName);
                    if (dataType == DataType.Invalid)
                    {
                        throw ConfigFormatException.At(child.Position, $"unsupported data_type '{typeName}'");
                    }
                    break;
                case "dims":
                    var dim = Int64(child);
                    if (dim < -1)
                    {
                        throw ConfigFormatException.At(child.Position, $"dims must be -1 (variable) or non-negative, got {dim}");
                    }
                    dims.Add(dim);
                    break;
                case "optional": optional = Bool(child); break;
                default: ignored.Add($"{field.Name}.{child.Name}"); break;
            }
        }
        if (string.IsNullOrEmpty(name))
        {
            throw ConfigFormatException.At(field.Position, $"{field.Name} has no name");
        }
        if (dataType == DataType.Invalid)
        {
            throw ConfigFormatException.At(field.Position, $"{field.Name} '{name}' has no data_type");
        }
        if (reshape is { } target)
        {
            var fixedDims = dims.All(d => d >= 0) && target.All(d => d >= 0);
            if (!fixedDims)
            {
                throw ConfigFormatException.At(field.Position, $"{field.Name} '{name}' has a reshape, which Fabrik supports only with fixed dims");
            }
            if (dims.Aggregate(1L, (a, b) => a * b) != target.Aggregate(1L, (a, b) => a * b))
            {
                throw ConfigFormatException.At(field.Position, $"{field.Name} '{name}': reshape [{string.Join(",", target)}] does not have the element count of dims [{string.Join(",", dims)}]");
            }
        }
        return new TensorConfig(name, dataType, dims.ToImmutable(), optional) { Reshape = reshape };
    }

    private static InstanceGroupConfig InstanceGroup(TextField field, int index, ImmutableArray<string>.Builder ignored)
    {
        var message = Message(field);
        var name = "";
        var count = InstanceGroupConfig.DefaultCount;
        var kind = InstanceKind.Auto;
        var gpus = ImmutableArray.CreateBuilder<int>();
        foreach (var child in message.Fields)
        {
            switch (child.Name)
            {
                case "name": name = String(child); break;
                case "count":
                    count = Int32(child);
                    if (count < 1)
                    {
                        throw ConfigFormatException.At(child.Position, $"instance_group count must be at least 1, got {count}");
                    }
                    break;
                case "kind":
                    kind = Identifier(child) switch
                    {
                        "KIND_AUTO" => InstanceKind.Auto,
                        "KIND_CPU" => InstanceKind.Cpu,
                        "KIND_GPU" => InstanceKind.Gpu,
                        var other => throw ConfigFormatException.At(child.Position, $"unsupported instance_group kind '{other}'"),
                    };
                    break;
                case "gpus": gpus.Add(Int32(child)); break;
                default: ignored.Add($"instance_group.{child.Name}"); break;
            }
        }
        return new InstanceGroupConfig(name.Length > 0 ? name : $"group_{index}", count, kind, gpus.ToImmutable());
    }

    private static DynamicBatchingConfig DynamicBatching(TextField field, ImmutableArray<string>.Builder ignored)
    {
        var message = Message(field);
        var preferred = ImmutableArray.CreateBuilder<int>();
        long delay = 0;
        var preserveOrdering = false;
        int levels = 0, defaultLevel = 0;
        var defaultPolicy = QueuePolicyConfig.Default;
        var policies = ImmutableDictionary.CreateBuilder<int, QueuePolicyConfig>();
        foreach (var child in message.Fields)
        {
            switch (child.Name)
            {
                case "preferred_batch_size":
                    var size = Int32(child);
                    if (size < 1)
                    {
                        throw ConfigFormatException.At(child.Position, $"preferred_batch_size must be at least 1, got {size}");
                    }
                    preferred.Add(size);
                    break;
                case "max_queue_delay_microseconds": delay = NonNegative(child); break;
                case "preserve_ordering": preserveOrdering = Bool(child); break;
                case "priority_levels": levels = (int)Math.Min(NonNegative(child), int.MaxValue); break;
                case "default_priority_level": defaultLevel = (int)Math.Min(NonNegative(child), int.MaxValue); break;
                case "default_queue_policy": defaultPolicy = QueuePolicy(child, ignored); break;
                case "priority_queue_policy":
                    var entry = Message(child);
                    var key = entry.Fields.FirstOrDefault(f => f.Name == "key") ?? throw ConfigFormatException.At(child.Position, "priority_queue_policy needs a key");
                    var value = entry.Fields.FirstOrDefault(f => f.Name == "value") ?? throw ConfigFormatException.At(child.Position, "priority_queue_policy needs a value");
                    policies[(int)Math.Min(NonNegative(key), int.MaxValue)] = QueuePolicy(value, ignored);
                    break;
                default: ignored.Add($"dynamic_batching.{child.Name}"); break;
            }
        }
        if (levels > 0 && (defaultLevel < 1 || defaultLevel > levels))
        {
            throw ConfigFormatException.At(field.Position, $"default_priority_level must be between 1 and priority_levels ({levels}), got {defaultLevel}");
        }
        foreach (var level in policies.Keys)
        {
            if (level < 1 || level > levels)
            {
                throw ConfigFormatException.At(field.Position, $"priority_queue_policy names level {level}, outside 1..priority_levels ({levels})");
            }
        }
        return new DynamicBatchingConfig(preferred.ToImmutable(), delay, preserveOrdering)
        {
            PriorityLevels = levels,
            DefaultPriorityLevel = defaultLevel,
            DefaultQueuePolicy = defaultPolicy,
            PriorityQueuePolicies = policies.ToImmutable(),
        };
    }

    private static QueuePolicyConfig QueuePolicy(TextField field, ImmutableArray<string>.Builder ignored)
    {
        var policy = QueuePolicyConfig.Default;
        foreach (var child in Message(field).Fields)
        {
            policy = child.Name switch
            {
                "timeout_action" => policy with
                {
                    TimeoutAction = Identifier(child) switch
                    {
                        "REJECT" => TimeoutAction.Reject,
                        "DELAY" => TimeoutAction.Delay,
                        var other => throw ConfigFormatException.At(child.Position, $"timeout_action must be REJECT or DELAY, got {other}"),
                    },
                },
                "default_timeout_microseconds" => policy with { DefaultTimeoutMicroseconds = NonNegative(child) },
                "allow_timeout_override" => policy with { AllowTimeoutOverride = Bool(child) },
                "max_queue_size" => policy with { MaxQueueSize = (int)Math.Min(NonNegative(child), int.MaxValue) },
                _ => Ignore(child),
            };
        }
        return policy;

        QueuePolicyConfig Ignore(TextField child)
        {
            ignored.Add($"queue_policy.{child.Name}");
            return policy;
        }
    }

    private static void RejectDuplicates(ImmutableArray<TensorConfig>.Builder tensors, string kind)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in tensors)
        {
            if (!seen.Add(tensor.Name))
            {
                throw new ConfigFormatException($"{kind} '{tensor.Name}' is declared twice");
            }
        }
    }
}
