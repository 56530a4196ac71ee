using System.Collections.Immutable;
using Fabrik.Devices;
using Fabrik.Execution;
using Fabrik.Models.Configuration;
using Fabrik.Native;
using Fabrik.Observability;
using Fabrik.Protocol;
using Fabrik.Scheduling;
using Fabrik.Tensors;

namespace Fabrik.Models;

/// <summary>Lifecycle states, as Triton names them in its repository index.</summary>
internal enum ModelState
{
    Loading,
    Ready,
    Unloading,
    Unavailable,
}

/// <summary>What the server knows about one model: its state, why, and (when READY) the loaded
/// version that serves it.</summary>
internal sealed record ModelEntry(string Name, ModelState State, string Reason, LoadedModel? Loaded)
{
    public static string StateName(ModelState state) => state.ToString().ToUpperInvariant();
}

/// <summary>
/// Loads the models of the repositories and resolves requests to them.
/// </summary>
/// <remarks>
/// The set of models is an immutable dictionary swapped through one volatile field, so request
/// threads resolve models without a lock. Loading and unloading happen on one thread at a time
/// (<see cref="_lifecycle"/>).
/// </remarks>
internal sealed partial class ModelManager : IAsyncDisposable
{
    private readonly IReadOnlyList<string> _repositories;
    private readonly TensorMemoryPool _pool;
    private readonly TimeProvider _time;
    private readonly GpuInventory _gpus;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private volatile ImmutableDictionary<string, ModelEntry> _models = ImmutableDictionary<string, ModelEntry>.Empty.WithComparers(StringComparer.Ordinal);
    private volatile bool _startupComplete;
    private volatile bool _shuttingDown;

    public ModelManager(IReadOnlyList<string> repositories, TensorMemoryPool pool, TimeProvider time, GpuInventory gpus, ILoggerFactory loggerFactory)
    {
        _repositories = repositories;
        _pool = pool;
        _time = time;
        _gpus = gpus;
        _logger = loggerFactory.CreateLogger<ModelManager>();
        LoggerFactory = loggerFactory;
    }

    private ILoggerFactory LoggerFactory { get; }

    /// <summary>Every model the server knows, by name.</summary>
    public ImmutableDictionary<string, ModelEntry> Models => _models;

    /// <summary>True once start-up loading finished and every model in the repositories is READY.</summary>
    public bool AllModelsReady => _startupComplete && !_shuttingDown && _models.Values.All(entry => entry.State == ModelState.Ready);

    /// <summary>Shutdown has begun: readiness turns false and new requests are refused with
    /// Unavailable, while requests already accepted run to completion.</summary>
    public void BeginShutdown() => _shuttingDown = true;

    /// <summary>Loads every model found in the repositories. A model that fails becomes
    /// UNAVAILABLE with the reason; the others still load.</summary>
    public async Task LoadAllAsync(CancellationToken cancellation)
    {
        await _lifecycle.WaitAsync(cancellation);
        try
        {
            foreach (var repository in _repositories)
            {
                foreach (var source in ModelRepository.Discover(repository))
                {
                    cancellation.ThrowIfCancellationRequested();
                    if (_models.ContainsKey(source.Name))
                    {
                        Log.DuplicateModel(_logger, source.Name, source.Directory);
                        continue;
                    }
                    _models = _models.SetItem(source.Name, new ModelEntry(source.Name, ModelState.Loading, "", null));
                    _models = _models.SetItem(source.Name, Load(source));
                }
            }
            _startupComplete = true;
            LogSummary();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Every READY model, ordered by name.</summary>
    public IEnumerable<LoadedModel> LoadedModels =>
        _models.Values.Where(entry => entry.Loaded is not null).OrderBy(entry => entry.Name, StringComparer.Ordinal).Select(entry => entry.Loaded!);

    /// <summary>Refuses the load and unload APIs: this server loads every model at start-up
    /// (Triton's model control mode NONE).</summary>
    public static InferenceException LoadUnloadRefused(string name) => InferenceException.Unavailable(
        $"explicit model load / unload is not allowed in model control mode NONE (model '{name}'): every model is loaded at start-up");

    /// <summary>Finds the loaded model for a request. <paramref name="version"/> is null or empty
    /// for the latest version.</summary>
    /// <exception cref="InferenceException">NotFound for an unknown model or version;
    /// Unavailable for a model that is not READY.</exception>
    public LoadedModel Resolve(string name, string? version)
    {
        if (_shuttingDown)
        {
            throw InferenceException.Unavailable("the server is shutting down and takes no new requests");
        }
        if (!_models.TryGetValue(name, out var entry))
        {
            throw InferenceException.NotFound($"Request for unknown model: '{name}' is not found");
        }
        if (entry.Loaded is not { } loaded || entry.State != ModelState.Ready)
        {
            throw InferenceException.Unavailable($"Request for unknown model: '{name}' is not ready ({ModelEntry.StateName(entry.State)}: {entry.Reason})");
        }
        if (!string.IsNullOrEmpty(version) && version != loaded.VersionText)
        {
            throw InferenceException.NotFound($"Request for unknown model: '{name}' version {version} is not found");
        }
        return loaded;
    }

    private ModelEntry Load(ModelSource source)
    {
        try
        {
            var loaded = LoadModel(source);
            Log.ModelLoaded(_logger, loaded.Name, loaded.Version, loaded.Config.Platform, loaded.Scheduler.InstanceDevices);
            return new ModelEntry(source.Name, ModelState.Ready, "", loaded);
        }
        catch (Exception e)
        {
            var reason = Describe(e);
            Log.ModelFailed(_logger, source.Name, reason);
            return new ModelEntry(source.Name, ModelState.Unavailable, reason, null);
        }
    }

    private LoadedModel LoadModel(ModelSource source)
    {
        if (!File.Exists(source.ConfigPath))
        {
            throw new InvalidOperationException($"{source.ConfigPath} is missing");
        }
        ModelConfig config;
        try
        {
            config = ModelConfigReader.Parse(File.ReadAllText(source.ConfigPath), source.Name);
        }
        catch (ConfigFormatException e)
        {
            throw new InvalidOperationException($"{source.ConfigPath}: {e.Message}", e);
        }
        foreach (var field in config.IgnoredFields.Distinct())
        {
            Log.IgnoredField(_logger, source.Name, field);
        }
        if (source.Versions.Count == 0)
        {
            throw new InvalidOperationException($"no version folder (such as {Path.Combine(source.Directory, "1")}) holds a model file");
        }

        var version = source.Versions[^1];
        var modelPath = ModelInstanceFactory.ModelFilePath(config, source.VersionDirectory(version));
        var placement = DevicePlacement.Place(config, _gpus);
        foreach (var warning in placement.Warnings)
        {
            Log.PlacementWarning(_logger, source.Name, warning);
        }
        var instances = ModelInstanceFactory.CreateInstances(config, modelPath, _pool, placement.Instances);
        var statistics = new ModelStatistics(config.MaxBatchSize);
        var scheduler = new ModelScheduler(config, instances, statistics, _pool, _time, LoggerFactory.CreateLogger<ModelScheduler>());
        return new LoadedModel(config, version, scheduler, statistics) { ModelFileName = Path.GetFileName(modelPath) };
    }

    private static string Describe(Exception e)
    {
        // Type initializers and reflection wrap the native library's own message; report that one.
        while (e is TypeInitializationException or System.Reflection.TargetInvocationException && e.InnerException is not null)
        {
            e = e.InnerException;
        }
        return e.Message;
    }

    private void LogSummary()
    {
        var rows = _models.Values.OrderBy(entry => entry.Name, StringComparer.Ordinal).ToList();
        Log.Summary(_logger, rows.Count(row => row.State == ModelState.Ready), rows.Count);
        foreach (var row in rows)
        {
            Log.SummaryRow(_logger, row.Name, row.Loaded?.VersionText ?? "-", ModelEntry.StateName(row.State), row.Reason);
        }
    }

    /// <summary>Unloads every model: stops intake, drains queued requests and frees sessions.</summary>
    public async ValueTask DisposeAsync()
    {
        await _lifecycle.WaitAsync();
        try
        {
            var models = _models;
            _models = _models.Clear();
            foreach (var entry in models.Values)
            {
                if (entry.Loaded is { } loaded)
                {
                    await loaded.DisposeAsync();
                }
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Loaded model '{Model}' version {Version} ({Platform}; instances on {Devices})")]
        public static partial void ModelLoaded(ILogger logger, string model, long version, string platform, string devices);

        [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "Model '{Model}': {Warning}")]
        public static partial void PlacementWarning(ILogger logger, string model, string warning);

        [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Model '{Model}' failed to load: {Reason}")]
        public static partial void ModelFailed(ILogger logger, string model, string reason);

        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Model '{Model}': config field '{Field}' is not supported and is ignored")]
        public static partial void IgnoredField(ILogger logger, string model, string field);

        [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Model '{Model}' in {Directory} is ignored: a model of that name was already found in an earlier repository")]
        public static partial void DuplicateModel(ILogger logger, string model, string directory);

        [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "{Ready} of {Count} model(s) READY")]
        public static partial void Summary(ILogger logger, int ready, int count);

        [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "  model '{Model}' version {Version}: {State} {Reason}")]
        public static partial void SummaryRow(ILogger logger, string model, string version, string state, string reason);
    }
}
