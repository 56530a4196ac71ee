using System.Collections.Immutable;

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

    /// <summary>Sequence batching settings, or null when the model is not stateful.</summary>
    public SequenceBatchingConfig? SequenceBatching { get; init; }

    /// <summary>The steps of an ensemble (<c>platform: "ensemble"</c>); null for any other model.</summary>
    public EnsembleSchedulingConfig? Ensemble { get; init; }

    /// <summary>Model file name inside a version folder; empty means the backend's default.</summary>
    public string DefaultModelFilename { get; init; } = "";

    /// <summary>Free-form parameters (<c>parameters { key: .. value { string_value: .. } }</c>).</summary>
    public ImmutableDictionary<string, string> Parameters { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>The optimization block: graph level and execution accelerators.</summary>
    public OptimizationConfig Optimization { get; init; } = OptimizationConfig.Default;

    /// <summary>model_warmup: samples every instance runs before the model is READY.</summary>
    public ImmutableArray<WarmupSample> Warmup { get; init; } = [];

    /// <summary><c>response_cache { enable: true }</c>: the model's responses may be served from the
    /// server's response cache (when the server has one, <c>--cache-config local,size=N</c>).</summary>
    public bool ResponseCache { get; init; }

    /// <summary><c>model_transaction_policy { decoupled: true }</c>. Fabrik serves no decoupled
    /// model; the flag is read so that such a model is never cached.</summary>
    public bool Decoupled { get; init; }

    /// <summary>Fields present in the file that Fabrik does not act on.</summary>
    public ImmutableArray<string> IgnoredFields { get; init; } = [];

    /// <summary>True when Triton would cache this model's responses if the server has a cache:
    /// the config enables it, and the model is neither decoupled nor sequence-batched (Triton
    /// caches neither).</summary>
    public bool CachesResponses => ResponseCache && !Decoupled && SequenceBatching is null;
}
