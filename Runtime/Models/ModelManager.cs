using System.Collections.Immutable;
using Fabrik.Devices;
using Fabrik.Execution;
using Fabrik.Execution.OnnxRuntime;
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

/// <summary>What the server knows about one model: its state, why, and (when READY) the versions
/// that serve it.</summary>
internal sealed record ModelEntry(string Name, ModelState State, string Reason, ImmutableSortedDictionary<long, LoadedModel> Versions)
{
    public static ModelEntry Without(string name, ModelState state, string reason) =>
        new(name, state, reason, ImmutableSortedDictionary<long, LoadedModel>.Empty);

    /// <summary>The newest served version, or null.</summary>
    public LoadedModel? Loaded => Versions.IsEmpty ? null : Versions.Values.Last();

    /// <summary>The repository fingerprint this entry was loaded from (poll mode).</summary>
    public string Fingerprint { get; init; } = "";

    public static string StateName(ModelState state) => state.ToString().ToUpperInvariant();
}

/// <summary>
/// Loads the models of the repositories, resolves requests to them, and (in explicit and poll
/// mode) loads, reloads and unloads them while traffic flows.
/// </summary>
/// <remarks>
/// The set of models is an immutable dictionary swapped through one volatile field, so request
/// threads resolve models without a lock. Loads and unloads run one at a time under
/// <see cref="_lifecycle"/>. A reload builds the new versions completely before it swaps them in;
/// the old versions then wait for their leases (requests in flight) before they stop.
/// </remarks>
internal sealed partial class ModelManager : IAsyncDisposable
{
    private readonly ModelRepositoryOptions _options;
    private readonly TensorMemoryPool _pool;
    private readonly TimeProvider _time;
    private readonly GpuInventory _gpus;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private volatile ImmutableDictionary<string, ModelEntry> _models = ImmutableDictionary<string, ModelEntry>.Empty.WithComparers(StringComparer.Ordinal);
    private volatile bool _startupComplete;
    private volatile bool _shuttingDown;
    private Task _polling = Task.CompletedTask;

    public ModelManager(ModelRepositoryOptions options, TensorMemoryPool pool, TimeProvider time, GpuInventory gpus, ILoggerFactory loggerFactory)
    {
        _options = options;
        _pool = pool;
        _time = time;
        _gpus = gpus;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ModelManager>();
    }

    /// <summary>Every model the server knows, by name.</summary>
    public ImmutableDictionary<string, ModelEntry> Models => _models;

    public ModelControlMode ControlMode => _options.ControlMode;

    /// <summary>Readiness: start-up loading finished, shutdown has not begun, and (with strict
    /// readiness) every model the server knows is READY.</summary>
    public bool AllModelsReady => _startupComplete && !_shuttingDown
        && (!_options.StrictReadiness || _models.Values.All(ModelHealth.IsReady));

    /// <summary>Every served version, ordered by name and version.</summary>
    public IEnumerable<LoadedModel> LoadedModels =>
        _models.Values.OrderBy(entry => entry.Name, StringComparer.Ordinal).SelectMany(entry => entry.Versions.Values);

    /// <summary>Shutdown has begun: readiness turns false and new requests are refused with
    /// Unavailable, while requests already accepted run to completion.</summary>
    public void BeginShutdown() => _shuttingDown = true;

    /// <summary>Loads what the control mode asks for at start. A model that fails becomes
    /// UNAVAILABLE with the reason; the others still load. Poll mode then starts watching.</summary>
    public async Task LoadAllAsync(CancellationToken cancellation)
    {
        await _lifecycle.WaitAsync(cancellation);
        try
        {
            var everything = _options.ControlMode != ModelControlMode.Explicit || _options.StartupModels.Contains("*");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var repository in _options.Repositories)
            {
                foreach (var source in ModelRepository.Discover(repository))
                {
                    cancellation.ThrowIfCancellationRequested();
                    if (!seen.Add(source.Name))
                    {
                        Log.DuplicateModel(_logger, source.Name, source.Directory);
                        continue;
                    }
                    if (everything || _options.StartupModels.Contains(source.Name))
                    {
                        await LoadOrReloadAsync(source);
                    }
                }
            }
            foreach (var name in _options.StartupModels.Where(name => name != "*" && !seen.Contains(name)))
            {
                Publish(ModelEntry.Without(name, ModelState.Unavailable, $"--load-model names '{name}', which no model repository holds"));
            }
            _startupComplete = true;
            LogSummary();
        }
        finally
        {
            _lifecycle.Release();
        }
        if (_options.ControlMode == ModelControlMode.Poll)
        {
            _polling = Task.Run(() => PollAsync(_stopping.Token));
        }
    }

    /// <summary>The load API (explicit mode): loads <paramref name="name"/>, or reloads it with the
    /// current files. The new versions are loaded completely before they replace the old ones.</summary>
    /// <exception cref="InferenceException">InvalidArgument for a bad name or a failed load;
    /// Unavailable when the control mode forbids the API.</exception>
    public async Task LoadAsync(string name, CancellationToken cancellation)
    {
        RequireExplicitMode(name);
        ModelSource? source;
        try
        {
            source = ModelRepository.Find(_options.Repositories, name);
        }
        catch (ArgumentException e)
        {
            throw InferenceException.InvalidArgument(e.Message);
        }
        if (source is null)
        {
            throw InferenceException.InvalidArgument($"failed to load '{name}': no model repository holds a model of that name");
        }
        await _lifecycle.WaitAsync(cancellation);
        try
        {
            var entry = await LoadOrReloadAsync(source);
            if (entry.State != ModelState.Ready)
            {
                throw InferenceException.InvalidArgument($"failed to load '{name}': {entry.Reason}");
            }
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>The unload API (explicit mode): new requests are refused at once, requests in
    /// flight finish, then the sessions are freed.</summary>
    public async Task UnloadAsync(string name, CancellationToken cancellation)
    {
        RequireExplicitMode(name);
        if (ModelRepository.ValidateName(name) is { } problem)
        {
            throw InferenceException.InvalidArgument(problem);
        }
        await _lifecycle.WaitAsync(cancellation);
        try
        {
            if (!_models.TryGetValue(name, out var entry) || entry.Versions.IsEmpty)
            {
                throw InferenceException.InvalidArgument($"failed to unload '{name}': it is not loaded");
            }
            await UnloadCoreAsync(entry, "unloaded");
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Takes a lease on the version a request should run on (the newest served one
    /// when <paramref name="version"/> is null or empty). Dispose the lease when the response is
    /// written.</summary>
    /// <exception cref="InferenceException">InvalidArgument for an invalid name; NotFound for an
    /// unknown model or version; Unavailable for a model that is not READY or during shutdown.</exception>
    public ModelLease Acquire(string name, string? version)
    {
        // A version retired by a reload refuses leases; the map already holds its successor.
        for (var attempt = 0; ; attempt++)
        {
            var model = Resolve(name, version);
            if (model.TryAcquire())
            {
                return new ModelLease(model);
            }
            if (attempt > 100)
            {
                throw InferenceException.Unavailable($"model '{name}' is being replaced; try again");
            }
            Thread.Yield();
        }
    }

    /// <summary>Every version served beside <paramref name="model"/> (itself included). If the
    /// model was unloaded since it was resolved, just <paramref name="model"/>.</summary>
    public IReadOnlyCollection<LoadedModel> ServedVersions(LoadedModel model) =>
        _models.TryGetValue(model.Name, out var entry) && !entry.Versions.IsEmpty ? [.. entry.Versions.Values] : [model];

    /// <summary>Finds the version a request names, without a lease (for metadata).</summary>
    public LoadedModel Resolve(string name, string? version)
    {
        if (_shuttingDown)
        {
            throw InferenceException.Unavailable("the server is shutting down and takes no new requests");
        }
        if (!_models.TryGetValue(name, out var entry))
        {
            throw ModelRepository.ValidateName(name) is { } problem
                ? InferenceException.InvalidArgument(problem)
                : InferenceException.NotFound($"Request for unknown model: '{name}' is not found");
        }
        if (entry.State != ModelState.Ready || entry.Versions.IsEmpty)
        {
            throw InferenceException.Unavailable($"Request for unknown model: '{name}' is not ready ({ModelEntry.StateName(entry.State)}: {entry.Reason})");
        }
        if (string.IsNullOrEmpty(version))
        {
            return entry.Loaded!;
        }
        return ModelRepository.TryParseVersion(version, out var number) && entry.Versions.TryGetValue(number, out var loaded)
            ? loaded
            : throw InferenceException.NotFound($"Request for unknown model: '{name}' version {version} is not found");
    }

    private void RequireExplicitMode(string name)
    {
        if (_options.ControlMode != ModelControlMode.Explicit)
        {
            throw InferenceException.Unavailable(
                $"explicit model load / unload is not allowed in model control mode {_options.ControlMode.ToString().ToUpperInvariant()} (model '{name}'); start with --model-control-mode=explicit");
        }
    }

    /// <summary>Loads every version the policy selects; on success swaps them in and retires the
    /// previous ones. Under <see cref="_lifecycle"/>.</summary>
    private async Task<ModelEntry> LoadOrReloadAsync(ModelSource source)
    {
        _models.TryGetValue(source.Name, out var previous);
        if (previous is null || previous.Versions.IsEmpty)
        {
            Publish(ModelEntry.Without(source.Name, ModelState.Loading, ""));
        }
        ModelEntry entry;
        var fingerprint = "";
        try
        {
            fingerprint = ModelRepository.Fingerprint(source);
            entry = new ModelEntry(source.Name, ModelState.Ready, "", LoadVersions(source)) { Fingerprint = fingerprint };
            foreach (var loaded in entry.Versions.Values)
            {
                Log.ModelLoaded(_logger, loaded.Name, loaded.Version, loaded.Config.Platform, loaded.Scheduler.InstanceDevices);
            }
        }
        catch (Exception e)
        {
            var reason = Describe(e);
            Log.ModelFailed(_logger, source.Name, reason);
            if (previous is { Versions.IsEmpty: false })
            {
                // A failed reload leaves the versions that were serving in place; the files it
                // failed on are remembered, so poll mode retries only when they change again.
                Publish(previous = previous with { Fingerprint = fingerprint });
                return previous;
            }
            entry = ModelEntry.Without(source.Name, ModelState.Unavailable, reason) with { Fingerprint = fingerprint };
        }
        Publish(entry);
        if (previous is { Versions.IsEmpty: false })
        {
            await RetireAsync(previous.Versions.Values);
        }
        return entry;
    }

    private ImmutableSortedDictionary<long, LoadedModel> LoadVersions(ModelSource source)
    {
        ModelRepository.Confine(source.Root, source.Directory);
        var config = ReadConfig(source);
        var selected = config.VersionPolicy.Select(source.Versions);
        if (selected.Count == 0)
        {
            throw new InvalidOperationException(source.Versions.Count == 0
                ? $"no version folder (such as {Path.Combine(source.Directory, "1")}) holds a model file"
                : $"version_policy selects none of the versions present ({string.Join(", ", source.Versions)})");
        }
        var versions = ImmutableSortedDictionary.CreateBuilder<long, LoadedModel>();
        try
        {
            foreach (var version in selected)
            {
                versions[version] = LoadVersion(source, config, version);
            }
            return versions.ToImmutable();
        }
        catch
        {
            foreach (var loaded in versions.Values)
            {
                loaded.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            throw;
        }
    }

    private ModelConfig ReadConfig(ModelSource source)
    {
        ModelConfig config;
        if (File.Exists(source.ConfigPath))
        {
            try
            {
                config = ModelConfigReader.Parse(TextFormatParser.ReadFile(source.ConfigPath), source.Name);
            }
            catch (ConfigFormatException e)
            {
                throw new InvalidOperationException($"{source.ConfigPath}: {e.Message}", e);
            }
            foreach (var field in config.IgnoredFields.Distinct())
            {
                Log.IgnoredField(_logger, source.Name, field);
            }
        }
        else if (_options.AutoCompleteConfig)
        {
            config = ModelConfigReader.Parse("", source.Name);
        }
        else
        {
            throw new InvalidOperationException($"{source.ConfigPath} is missing and auto-complete is disabled (--disable-auto-complete-config)");
        }
        if (config.BackendKind == BackendKind.Unknown && config.Platform.Length == 0 && config.Backend.Length == 0)
        {
            config = config with { Platform = DetectPlatform(source) };
        }
        return config;
    }

    /// <summary>Without a platform or backend, the model file in the newest version decides.</summary>
    private static string DetectPlatform(ModelSource source)
    {
        var newest = source.Versions.Count > 0 ? source.VersionDirectory(source.Versions[^1]) : source.Directory;
        if (File.Exists(Path.Combine(newest, "model.onnx")))
        {
            return "onnxruntime_onnx";
        }
        if (File.Exists(Path.Combine(newest, "model.pt")))
        {
            return "pytorch_libtorch";
        }
        throw new InvalidOperationException("the configuration names no platform or backend, and no model.onnx or model.pt says which");
    }

    private LoadedModel LoadVersion(ModelSource source, ModelConfig config, long version)
    {
        var modelPath = ModelRepository.Confine(source.Root, ModelInstanceFactory.ModelFilePath(config, source.VersionDirectory(version)));
        if (config.BackendKind == BackendKind.OnnxRuntime)
        {
            ConfineExternalData(source, modelPath);
        }
        if (_options.AutoCompleteConfig && config.BackendKind == BackendKind.OnnxRuntime)
        {
            config = OnnxAutoComplete.Complete(config, modelPath);
        }
        if (config.Outputs.Length == 0 || (config.Inputs.Length == 0 && config.BackendKind == BackendKind.TorchScript))
        {
            throw new InvalidOperationException(config.BackendKind == BackendKind.TorchScript
                ? "pytorch_libtorch models need their inputs and outputs in config.pbtxt (named INPUT__0, OUTPUT__0, ... as in Triton)"
                : "the configuration declares no outputs, and auto-complete is disabled");
        }
        var placement = DevicePlacement.Place(config, _gpus);
        foreach (var warning in placement.Warnings)
        {
            Log.PlacementWarning(_logger, source.Name, warning);
        }
        config = config with { InstanceGroups = placement.Groups };
        var instances = ModelInstanceFactory.CreateInstances(config, modelPath, _pool, placement.Instances);
        try
        {
            ModelWarmup.Run(config, instances, source, _pool);
        }
        catch
        {
            foreach (var instance in instances)
            {
                instance.Dispose();
            }
            throw;
        }
        var statistics = new ModelStatistics(config.MaxBatchSize);
        var scheduler = new ModelScheduler(config, instances, statistics, _pool, _time, _loggerFactory.CreateLogger<ModelScheduler>());
        return new LoadedModel(config, version, scheduler, statistics) { ModelFileName = Path.GetFileName(modelPath) };
    }

    /// <summary>Every external-data file the ONNX model names must lie inside the repository.</summary>
    private static void ConfineExternalData(ModelSource source, string modelPath)
    {
        IReadOnlyList<string> locations;
        try
        {
            locations = OnnxExternalData.Locations(File.ReadAllBytes(modelPath));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidOperationException($"{modelPath} is not a valid ONNX file: {e.Message}", e);
        }
        var directory = Path.GetDirectoryName(modelPath)!;
        foreach (var location in locations)
        {
            if (Path.IsPathRooted(location))
            {
                throw new InvalidOperationException($"{modelPath} names external data at the absolute path '{location}'; external data must sit beside the model");
            }
            ModelRepository.Confine(source.Root, Path.Combine(directory, location));
        }
    }

    /// <summary>UNLOADING (new requests refused), drain, then UNAVAILABLE with the reason.</summary>
    private async Task UnloadCoreAsync(ModelEntry entry, string reason)
    {
        Publish(entry with { State = ModelState.Unloading, Reason = "unloading" });
        await RetireAsync(entry.Versions.Values);
        Publish(ModelEntry.Without(entry.Name, ModelState.Unavailable, reason));
        Log.ModelUnloaded(_logger, entry.Name, reason);
    }

    private static async Task RetireAsync(IEnumerable<LoadedModel> versions)
    {
        foreach (var version in versions)
        {
            await version.DisposeAsync();
        }
    }

    private void Publish(ModelEntry entry) => _models = _models.SetItem(entry.Name, entry);

    /// <summary>Poll mode: rescans the repositories and loads new models, reloads changed ones and
    /// unloads removed ones.</summary>
    private async Task PollAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.PollInterval, _time, stopping);
                await PollOnceAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Whatever one poll hits, the next one runs: polling must never stop silently.
                Log.PollFailed(_logger, e.Message);
            }
        }
    }

    /// <summary>One poll: compares each model folder's fingerprint with the loaded one.</summary>
    public async Task PollOnceAsync(CancellationToken cancellation)
    {
        await _lifecycle.WaitAsync(cancellation);
        try
        {
            var present = new HashSet<string>(StringComparer.Ordinal);
            foreach (var repository in _options.Repositories)
            {
                foreach (var source in ModelRepository.Discover(repository))
                {
                    if (!present.Add(source.Name))
                    {
                        continue;
                    }
                    if (!_models.TryGetValue(source.Name, out var entry) || entry.Fingerprint != ModelRepository.Fingerprint(source))
                    {
                        await LoadOrReloadAsync(source);
                    }
                }
            }
            foreach (var entry in _models.Values.Where(entry => !present.Contains(entry.Name) && !entry.Versions.IsEmpty).ToList())
            {
                await UnloadCoreAsync(entry, "removed from the model repository");
            }
        }
        finally
        {
            _lifecycle.Release();
        }
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
            var versions = row.Versions.IsEmpty ? "-" : string.Join(",", row.Versions.Keys);
            Log.SummaryRow(_logger, row.Name, versions, ModelEntry.StateName(row.State), row.Reason);
        }
    }

    /// <summary>Unloads every model: stops intake, drains queued requests and frees sessions.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _polling;
        await _lifecycle.WaitAsync();
        try
        {
            var models = _models;
            _models = _models.Clear();
            foreach (var entry in models.Values)
            {
                await RetireAsync(entry.Versions.Values);
            }
        }
        finally
        {
            _lifecycle.Release();
            _stopping.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Loaded model '{Model}' version {Version} ({Platform}; instances on {Devices})")]
        public static partial void ModelLoaded(ILogger logger, string model, long version, string platform, string devices);

        [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Model '{Model}' failed to load: {Reason}")]
        public static partial void ModelFailed(ILogger logger, string model, string reason);

        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Model '{Model}': config field '{Field}' is not supported and is ignored")]
        public static partial void IgnoredField(ILogger logger, string model, string field);

        [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Model '{Model}' in {Directory} is ignored: a model of that name was already found in an earlier repository")]
        public static partial void DuplicateModel(ILogger logger, string model, string directory);

        [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "{Ready} of {Count} model(s) READY")]
        public static partial void Summary(ILogger logger, int ready, int count);

        [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "  model '{Model}' version(s) {Versions}: {State} {Reason}")]
        public static partial void SummaryRow(ILogger logger, string model, string versions, string state, string reason);

        [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "Model '{Model}': {Warning}")]
        public static partial void PlacementWarning(ILogger logger, string model, string warning);

        [LoggerMessage(EventId = 107, Level = LogLevel.Information, Message = "Model '{Model}' unloaded: {Reason}")]
        public static partial void ModelUnloaded(ILogger logger, string model, string reason);

        [LoggerMessage(EventId = 108, Level = LogLevel.Warning, Message = "Polling the model repository failed: {Reason}")]
        public static partial void PollFailed(ILogger logger, string reason);
    }
}
