using System.Collections.Immutable;
using Fabrik.Ensembles;
using Fabrik.Errors;

namespace Fabrik.Models;

/// <summary>
/// The models' lifecycle: which versions serve each model and in what state, resolving requests
/// to them, and (in explicit and poll mode) loading, reloading and unloading them while traffic
/// flows. <see cref="ModelLoader"/> builds the versions; <see cref="RepositoryPoller"/> drives
/// poll mode.
/// </summary>
/// <remarks>
/// The set of models is an immutable dictionary swapped through one volatile field, so request
/// threads resolve models without a lock. Loads and unloads run one at a time under
/// <see cref="_lifecycle"/>. A reload builds the new versions completely before it swaps them in;
/// the old versions then wait for their leases (requests in flight) before they stop.
/// </remarks>
internal sealed partial class ModelManager : IAsyncDisposable, IComposingModels
{
    private readonly ModelRepositoryOptions _options;
    private readonly ModelLoader _loader;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private readonly Lock _publishing = new();
    private volatile ImmutableDictionary<string, ModelEntry> _models = ImmutableDictionary<string, ModelEntry>.Empty.WithComparers(StringComparer.Ordinal);
    private volatile bool _startupComplete;
    private volatile bool _shuttingDown;

    public ModelManager(ModelRepositoryOptions options, ModelLoader loader, ILoggerFactory loggerFactory)
    {
        _options = options;
        _loader = loader;
        _logger = loggerFactory.CreateLogger<ModelManager>();
    }

    /// <summary>Every model the server knows, by name.</summary>
    public ImmutableDictionary<string, ModelEntry> Models => _models;

    public ModelControlMode ControlMode => _options.ControlMode;

    /// <summary>Readiness: start-up loading finished, shutdown has not begun, and (with strict
    /// readiness) every model the server knows is READY.</summary>
    public bool AllModelsReady => _startupComplete && !_shuttingDown
        && (!_options.StrictReadiness || _models.Values.All(ModelHealth.IsReady));

    /// <summary>The names of every model folder in the repositories now, loaded or not (the
    /// repository index lists them all, as Triton's does). A repository that cannot be read
    /// contributes nothing.</summary>
    public IReadOnlyCollection<string> ModelsInRepositories()
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var repository in _options.Repositories)
        {
            try
            {
                names.UnionWith(ModelRepository.Discover(repository).Select(source => source.Name));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Listed as it was at the last load; the poller or the next load reports the error.
            }
        }
        return names;
    }

    /// <summary>Every served version, ordered by name and version.</summary>
    public IEnumerable<LoadedModel> LoadedModels =>
        _models.Values.OrderBy(entry => entry.Name, StringComparer.Ordinal).SelectMany(entry => entry.Versions.Values);

    /// <summary>Shutdown has begun: readiness turns false and new requests are refused with
    /// Unavailable, while requests already accepted run to completion.</summary>
    public void BeginShutdown() => _shuttingDown = true;

    /// <summary>Loads what the control mode asks for at start. A model that fails becomes
    /// UNAVAILABLE with the reason; the others still load.</summary>
    public async Task LoadAllAsync(CancellationToken cancellation)
    {
        await _lifecycle.WaitAsync(cancellation);
        try
        {
            var everything = _options.ControlMode != ModelControlMode.Explicit || _options.StartupModels.Contains("*");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var startup = new List<ModelSource>();
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
                        startup.Add(source);
                    }
                }
            }
            var (plain, ensembles) = SplitEnsembles(everything ? startup : WithComposingModels(startup));
            // --model-load-thread-count models build at once; Publish serialises the swaps.
            await Parallel.ForEachAsync(plain, new ParallelOptions { MaxDegreeOfParallelism = _options.LoadThreadCount, CancellationToken = cancellation },
                async (source, _) => await LoadOrReloadAsync(source));
            await LoadEnsemblesAsync(ensembles);
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
            await LoadComposingModelsAsync(source, depth: 0);
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

    /// <summary>Loads every version the policy selects; on success swaps them in, checks the
    /// ensembles that use the model again, and retires the previous versions. Under
    /// <see cref="_lifecycle"/>.</summary>
    private async Task<ModelEntry> LoadOrReloadAsync(ModelSource source, int depth = 0)
    {
        var composing = ModelLoader.ComposingModels(source);
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
            entry = new ModelEntry(source.Name, ModelState.Ready, "", _loader.LoadVersions(source, this)) { Fingerprint = fingerprint, Composing = composing };
            foreach (var loaded in entry.Versions.Values)
            {
                Log.ModelLoaded(_logger, loaded.Name, loaded.Version, loaded.Config.Platform, loaded.Ensemble is null ? loaded.Scheduler.InstanceDevices : "its steps' models");
            }
        }
        catch (Exception e)
        {
            var detail = Describe(e);
            Log.ModelFailed(_logger, source.Name, detail);
            // Clients see the reason without server paths (the log above has them).
            var reason = Security.Redaction.ForClient(detail, [source.Root]);
            if (previous is { Versions.IsEmpty: false } && composing.Count == 0)
            {
                // A failed reload leaves the versions that were serving in place; the files it
                // failed on are remembered, so poll mode retries only when they change again.
                Publish(previous = previous with { Fingerprint = fingerprint });
                return previous;
            }
            // An ensemble that no longer checks out is unavailable: its old versions name models
            // that changed or went away.
            entry = ModelEntry.Without(source.Name, ModelState.Unavailable, reason) with { Fingerprint = fingerprint, Composing = composing };
        }
        Publish(entry);
        await RefreshDependentsAsync(source.Name, depth);
        if (previous is { Versions.IsEmpty: false })
        {
            await RetireAsync(previous.Versions.Values);
        }
        return entry;
    }

    /// <summary>UNLOADING (new requests refused), drain, then UNAVAILABLE with the reason.</summary>
    private async Task UnloadCoreAsync(ModelEntry entry, string reason)
    {
        Publish(entry with { State = ModelState.Unloading, Reason = "unloading" });
        await RefreshDependentsAsync(entry.Name, depth: 0);
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

    private void Publish(ModelEntry entry)
    {
        lock (_publishing)
        {
            _models = _models.SetItem(entry.Name, entry);
        }
    }

    /// <summary>Poll mode: brings the served models in line with <paramref name="present"/> (the
    /// repositories' current models): loads new ones, reloads those whose files changed, and
    /// unloads those that are gone.</summary>
    public async Task SynchronizeAsync(IReadOnlyList<ModelSource> present, CancellationToken cancellation)
    {
        await _lifecycle.WaitAsync(cancellation);
        try
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var source in present)
            {
                names.Add(source.Name);
                if (!_models.TryGetValue(source.Name, out var entry) || entry.Fingerprint != ModelRepository.Fingerprint(source))
                {
                    await LoadOrReloadAsync(source);
                }
            }
            foreach (var entry in _models.Values.Where(entry => !names.Contains(entry.Name) && !entry.Versions.IsEmpty).ToList())
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
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Loaded model '{Model}' version {Version} ({Platform}; instances on {Devices})")]
        public static partial void ModelLoaded(ILogger logger, string model, long version, string platform, string devices);

        [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Model '{Model}' failed to load: {Reason}")]
        public static partial void ModelFailed(ILogger logger, string model, string reason);

        [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Model '{Model}' in {Directory} is ignored: a model of that name was already found in an earlier repository")]
        public static partial void DuplicateModel(ILogger logger, string model, string directory);

        [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "{Ready} of {Count} model(s) READY")]
        public static partial void Summary(ILogger logger, int ready, int count);

        [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "  model '{Model}' version(s) {Versions}: {State} {Reason}")]
        public static partial void SummaryRow(ILogger logger, string model, string versions, string state, string reason);

        [LoggerMessage(EventId = 107, Level = LogLevel.Information, Message = "Model '{Model}' unloaded: {Reason}")]
        public static partial void ModelUnloaded(ILogger logger, string model, string reason);

    }
}
