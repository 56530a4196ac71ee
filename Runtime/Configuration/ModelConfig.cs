using System.Collections.Immutable;
using Fabrik.Tensors;

namespace Fabrik.Configuration;

/// <summary>A model's configuration: the subset of Triton's ModelConfig that Fabrik reads from
/// config.pbtxt. Immutable; a reload builds a new one.</summary>
internal sealed record ModelConfig
{
    /// <summary>Model name; equals the model's folder name.</summary>
    public required string Name { get; init; }

    /// <summary>Triton platform, for example onnxruntime_onnx or pytorch_libtorch.</summary>
    public required string Platform { get; init; }

    /// <summary>Triton backend, for example onnxruntime or pytorch. Empty in a file that gives only
    /// <see cref="Platform"/>; the loader fills it in from the backend that serves the platform.</summary>
    public string Backend { get; init; } = "";

    /// <summary>Largest batch; 0 means the model does not batch and shapes carry no batch dimension.</summary>
    public int MaxBatchSize { get; init; }

    /// <summary>True when config.pbtxt sets max_batch_size, so auto-complete leaves it alone.</summary>
    public bool MaxBatchSizeSpecified { get; init; }

    /// <summary>Which versions are served.</summary>
    public VersionPolicy VersionPolicy { get; init; } = VersionPolicy.Latest(1);

    /// <summary>Inputs in configuration order.</summary>
    public ImmutableArray<TensorConfig> Inputs { get; init; } = [];

    /// <summary>Outputs in configuration order.</summary>
    public ImmutableArray<TensorConfig> Outputs { get; init; } = [];

    /// <summary>Execution instances; one CPU instance when the config names none.</summary>
    public ImmutableArray<InstanceGroupConfig> InstanceGroups { get; init; } = [];

    /// <summary>Dynamic batching settings, or null when the model has none.</summary>
    public DynamicBatchingConfig? DynamicBatching { get; init; }

    /// <summary>Model file name inside a version folder; empty means the backend's default.</summary>
    public string DefaultModelFilename { get; init; } = "";

    /// <summary>Free-form parameters (<c>parameters { key: .. value { string_value: .. } }</c>).</summary>
    public ImmutableDictionary<string, string> Parameters { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>The optimization block: graph level and execution accelerators.</summary>
    public OptimizationConfig Optimization { get; init; } = OptimizationConfig.Default;

    /// <summary>model_warmup: samples every instance runs before the model is READY.</summary>
    public ImmutableArray<WarmupSample> Warmup { get; init; } = [];

    /// <summary>Fields present in the file that Fabrik does not act on.</summary>
    public ImmutableArray<string> IgnoredFields { get; init; } = [];

}

/// <summary>version_policy: the latest N versions, all versions, or specific ones.</summary>
internal sealed record VersionPolicy(VersionPolicyKind Kind, int NumVersions, ImmutableArray<long> Versions)
{
    public static VersionPolicy Latest(int count) => new(VersionPolicyKind.Latest, count, []);

    /// <summary>The versions to serve among <paramref name="available"/> (sorted ascending).</summary>
    public IReadOnlyList<long> Select(IReadOnlyList<long> available) => Kind switch
    {
        VersionPolicyKind.All => available,
        VersionPolicyKind.Specific => Versions.Where(available.Contains).Order().ToArray(),
        _ => available.Skip(Math.Max(0, available.Count - NumVersions)).ToArray(),
    };
}

internal enum VersionPolicyKind
{
    Latest,
    All,
    Specific,
}

/// <summary>optimization: the graph optimization level (null for the backend's default) and the
/// GPU execution accelerators (for example tensorrt with precision_mode FP16).</summary>
internal sealed record OptimizationConfig(int? GraphLevel, ImmutableArray<ExecutionAccelerator> GpuAccelerators)
{
    public static readonly OptimizationConfig Default = new(null, []);
}

/// <summary>An execution_accelerators entry: a name and its string parameters.</summary>
internal sealed record ExecutionAccelerator(string Name, ImmutableDictionary<string, string> Parameters);

/// <summary>A model_warmup entry: <see cref="Count"/> runs of a batch of <see cref="BatchSize"/>.</summary>
internal sealed record WarmupSample(string Name, int BatchSize, int Count, ImmutableArray<WarmupInput> Inputs);

/// <summary>Where a warm-up input's data comes from.</summary>
internal enum WarmupData
{
    Zero,
    Random,
    File,
}

/// <summary>One warm-up input: its type and dims (without the batch dimension) and its data,
/// which for <see cref="WarmupData.File"/> is read from the model's <c>warmup/</c> folder.</summary>
internal sealed record WarmupInput(string Name, DataType DataType, ImmutableArray<long> Dims, WarmupData Data, string FileName);

/// <summary>One input or output. <see cref="Dims"/> excludes the batch dimension; -1 is variable.
/// <see cref="Reshape"/>, when set, is the shape the backend uses instead of <see cref="Dims"/>
/// (same element count): clients see dims, the model sees the reshape.</summary>
internal sealed record TensorConfig(string Name, DataType DataType, ImmutableArray<long> Dims, bool Optional = false)
{
    public ImmutableArray<long>? Reshape { get; init; }

    /// <summary>Maps a shape between the client's dims and the backend's reshape, keeping the
    /// batch dimension when there is one. Without a reshape the shape is returned unchanged.</summary>
    public long[] MapShape(long[] shape, bool batched, bool toBackend)
    {
        if (Reshape is not { } reshape)
        {
            return shape;
        }
        var target = toBackend ? reshape : Dims;
        return batched ? [shape[0], .. target] : [.. target];
    }
}

/// <summary>Where instances run.</summary>
internal enum InstanceKind
{
    Auto,
    Cpu,
    Gpu,
}

/// <summary>An instance_group entry: <see cref="Count"/> instances of the model on each of
/// <see cref="Gpus"/> (or on the CPU). A count of <see cref="DefaultCount"/> (0) is unset, as in
/// Triton: placement gives it the backend's default (see DevicePlacement).</summary>
internal sealed record InstanceGroupConfig(string Name, int Count, InstanceKind Kind, ImmutableArray<int> Gpus)
{
    /// <summary>The count of a group that sets none.</summary>
    public const int DefaultCount = 0;
}

/// <summary>The dynamic_batching block. Priority levels run from 1 (highest) to
/// <see cref="PriorityLevels"/>; 0 levels means one queue and no priorities.</summary>
internal sealed record DynamicBatchingConfig(ImmutableArray<int> PreferredBatchSizes, long MaxQueueDelayMicroseconds, bool PreserveOrdering)
{
    public int PriorityLevels { get; init; }

    public int DefaultPriorityLevel { get; init; }

    public QueuePolicyConfig DefaultQueuePolicy { get; init; } = QueuePolicyConfig.Default;

    /// <summary>Policies that override <see cref="DefaultQueuePolicy"/> for some levels.</summary>
    public ImmutableDictionary<int, QueuePolicyConfig> PriorityQueuePolicies { get; init; } = ImmutableDictionary<int, QueuePolicyConfig>.Empty;

    /// <summary>The policy of one priority level.</summary>
    public QueuePolicyConfig PolicyFor(int level) => PriorityQueuePolicies.TryGetValue(level, out var policy) ? policy : DefaultQueuePolicy;
}

/// <summary>What happens to a request whose queue timeout expires.</summary>
internal enum TimeoutAction
{
    /// <summary>Answer at once with "Request timeout expired".</summary>
    Reject,

    /// <summary>Keep it, behind every request that has not timed out.</summary>
    Delay,
}

/// <summary>A queue policy (Triton's ModelQueuePolicy). Zero means "no limit" for the timeout and
/// the queue size.</summary>
internal sealed record QueuePolicyConfig(TimeoutAction TimeoutAction, long DefaultTimeoutMicroseconds, bool AllowTimeoutOverride, int MaxQueueSize)
{
    public static readonly QueuePolicyConfig Default = new(TimeoutAction.Reject, 0, false, 0);
}
