using System.Text;
using Fabrik.Caching;
using Fabrik.Configuration;
using Fabrik.Ensembles;
using Fabrik.Execution;
using Fabrik.Inference;
using Fabrik.Models.Embeddings;
using Fabrik.Observability;
using Fabrik.Observability.Metrics;
using Fabrik.Scheduling;
using Fabrik.Tensors;

namespace Fabrik.Models;

/// <summary>
/// A model version that is loaded and serving: its configuration and its scheduler. A request
/// holds a lease on it (<see cref="TryAcquire"/>) until its response is written; a reload or unload
/// retires the version, waits for the leases to end, and only then stops its scheduler, so no
/// accepted request fails because its model went away.
/// </summary>
internal sealed class LoadedModel : IAsyncDisposable, IComposingModel
{
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _leases;
    private volatile bool _retired;

    private LoadedModel(ModelConfig config, long version, ModelScheduler scheduler, ModelStatistics statistics)
    {
        Statistics = statistics;
        Config = config;
        Version = version;
        VersionText = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Scheduler = scheduler;
        InputNamesUtf8 = config.Inputs.Select(input => Encoding.UTF8.GetBytes(input.Name)).ToArray();
        OutputNamesUtf8 = config.Outputs.Select(output => Encoding.UTF8.GetBytes(output.Name)).ToArray();
    }

    /// <summary>The one way a served version is built (by the loader, the tests and the
    /// benchmarks alike): statistics and a scheduler over <paramref name="instances"/>, which the
    /// new version owns from here on and disposes when it is retired.</summary>
    /// <param name="config">The configuration it was loaded with.</param>
    /// <param name="version">The version number.</param>
    /// <param name="instances">Its execution instances.</param>
    /// <param name="pool">Where its tensors come from.</param>
    /// <param name="time">The scheduler's clock.</param>
    /// <param name="loggerFactory">For the scheduler's log.</param>
    /// <param name="modelFileName">The model file loaded (reported by the config endpoint).</param>
    /// <param name="metrics">Where it records latency histograms; null when metrics are off.</param>
    /// <param name="responseCache">The server's response cache, for a version whose configuration
    /// enables it (<see cref="ModelConfig.CachesResponses"/>); null for none.</param>
    /// <param name="embedding">Its tokenizer and pooling when it is served as embeddings.</param>
    public static LoadedModel Create(
        ModelConfig config, long version, IModelInstance[] instances, TensorMemoryPool pool, TimeProvider time, ILoggerFactory loggerFactory,
        string modelFileName = "", InferenceMetrics? metrics = null, ResponseCache? responseCache = null, EmbeddingModel? embedding = null)
    {
        var cache = responseCache is not null && config.CachesResponses
            ? new VersionResponseCache(responseCache, pool, config.Name, version, config.Inputs.Select(input => input.Name))
            : null;
        var statistics = new ModelStatistics(config.MaxBatchSize, metrics?.ForModel(config.Name, version.ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            CachesResponses = cache is not null,
        };
        var scheduler = new ModelScheduler(config, instances, statistics, pool, time, loggerFactory.CreateLogger<ModelScheduler>());
        return new LoadedModel(config, version, scheduler, statistics) { ModelFileName = modelFileName, ResponseCache = cache, Embedding = embedding, LoadedAt = time.GetUtcNow() };
    }

    /// <summary>The one way a served ensemble version is built: its checked
    /// <paramref name="plan"/> runs over <paramref name="models"/>. Its scheduler has no instances
    /// (its requests go to <see cref="Ensemble"/>); it is there for the version's health and
    /// shutdown like any other version's. Caching follows <see cref="ModelConfig.CachesResponses"/>
    /// at the top level, as Triton caches ensembles.</summary>
    public static LoadedModel CreateEnsemble(
        ModelConfig config, long version, EnsemblePlan plan, IComposingModels models, TensorMemoryPool pool, TimeProvider time, ILoggerFactory loggerFactory,
        InferenceMetrics? metrics = null, ResponseCache? responseCache = null)
    {
        var model = Create(config, version, [], pool, time, loggerFactory, "", metrics, responseCache);
        model.Ensemble = new EnsembleExecutor(plan, models, model.Statistics);
        return model;
    }

    public string Name => Config.Name;

    /// <summary>How an ensemble version runs its steps; null for any other model.</summary>
    public EnsembleExecutor? Ensemble { get; private set; }

    /// <summary>Runs <paramref name="request"/>: through the ensemble's steps for an ensemble,
    /// otherwise through the scheduler. The request stays the caller's; the response becomes
    /// the caller's.</summary>
    public Task<InferenceResponse> InferAsync(InferenceRequest request) =>
        Ensemble is { } ensemble ? ensemble.InferAsync(request) : Scheduler.InferAsync(request);

    public ModelConfig Config { get; }

    /// <summary>File name of the model inside its version folder.</summary>
    public string ModelFileName { get; init; } = "";

    public long Version { get; }

    /// <summary>The tokenizer and pooling of an embedding model (config.pbtxt's <c>embedding_*</c>
    /// parameters); null for any other model.</summary>
    public EmbeddingModel? Embedding { get; private init; }

    /// <summary>When the version was loaded (OpenAI's model listing reports it as <c>created</c>).</summary>
    public DateTimeOffset LoadedAt { get; private init; }

    /// <summary>The version as the protocol writes it (a string).</summary>
    public string VersionText { get; }

    public ModelScheduler Scheduler { get; }

    /// <summary>Where this version's responses are cached; null when they are not.</summary>
    public VersionResponseCache? ResponseCache { get; private init; }

    /// <summary>The statistics extension's counters for this version.</summary>
    public ModelStatistics Statistics { get; }

    /// <summary>Input names as UTF-8, in configuration order, so decoders match names without
    /// allocating strings.</summary>
    public byte[][] InputNamesUtf8 { get; }

    /// <summary>Output names as UTF-8, in configuration order.</summary>
    public byte[][] OutputNamesUtf8 { get; }

    /// <summary>Index of the input named <paramref name="utf8Name"/>, or -1.</summary>
    public int FindInput(ReadOnlySpan<byte> utf8Name) => Find(InputNamesUtf8, utf8Name);

    /// <summary>Index of the output named <paramref name="utf8Name"/>, or -1.</summary>
    public int FindOutput(ReadOnlySpan<byte> utf8Name) => Find(OutputNamesUtf8, utf8Name);

    /// <summary>Index of the input named <paramref name="name"/>, or -1.</summary>
    public int FindInput(string name) => Find(Config.Inputs, name);

    /// <summary>Index of the output named <paramref name="name"/>, or -1.</summary>
    public int FindOutput(string name) => Find(Config.Outputs, name);

    private static int Find(System.Collections.Immutable.ImmutableArray<TensorConfig> tensors, string name)
    {
        for (var i = 0; i < tensors.Length; i++)
        {
            if (tensors[i].Name == name)
            {
                return i;
            }
        }
        return -1;
    }

    private static int Find(byte[][] names, ReadOnlySpan<byte> utf8Name)
    {
        for (var i = 0; i < names.Length; i++)
        {
            if (utf8Name.SequenceEqual(names[i]))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Takes a lease; false once the version is retired (the caller resolves again and
    /// finds its successor).</summary>
    public bool TryAcquire()
    {
        Interlocked.Increment(ref _leases);
        if (!_retired)
        {
            return true;
        }
        Release();
        return false;
    }

    /// <summary>Ends a lease taken with <see cref="TryAcquire"/>.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _leases) == 0 && _retired)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>Refuses new leases, waits for the current ones, then stops the scheduler (which
    /// runs what is still queued) and frees the sessions.</summary>
    public async ValueTask DisposeAsync()
    {
        _retired = true;
        if (Volatile.Read(ref _leases) == 0)
        {
            _drained.TrySetResult();
        }
        await _drained.Task;
        await Scheduler.DisposeAsync();
        // No request holds the version any more, so none can store an entry after this.
        ResponseCache?.Clear();
    }
}
