using System.Collections.Immutable;
using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Ensembles;
using Fabrik.Execution;
using Fabrik.Execution.Pipeline;
using Fabrik.Models.Embeddings;
using Fabrik.Native;
using Fabrik.Security;
using Fabrik.Security.ModelSigning;
using Fabrik.Tensors;

namespace Fabrik.Models;

/// <summary>
/// Turns a model folder into served versions: reads config.pbtxt, picks the backend, confines
/// every file the backend will open to the repository, auto-completes the configuration, places
/// the instance groups, creates the instances, runs the warm-up and wires the scheduler.
/// Stateless apart from its collaborators; the model manager calls it under its lifecycle lock.
/// </summary>
internal sealed partial class ModelLoader(
    ModelRepositoryOptions options, BackendRegistry backends, TensorMemoryPool pool, TimeProvider time, GpuInventory gpus, ILoggerFactory loggerFactory, AuditLog audit)
{
    private const string NoVersionFolder = "no version folder (such as 1/) holds a model file";
    private readonly ILogger _logger = loggerFactory.CreateLogger<ModelLoader>();

    /// <summary>Loads every version the version policy selects. Either all load, or none stays
    /// loaded and the exception says why. An ensemble's versions are checked against the models
    /// <paramref name="composing"/> serves now.</summary>
    public ImmutableSortedDictionary<long, LoadedModel> LoadVersions(ModelSource source, IComposingModels composing)
    {
        ModelRepository.Confine(source.Root, source.Directory);
        var configBytes = ReadConfigBytes(source);
        if (options.Trust.Enforced)
        {
            if (source.Versions.Count == 0)
            {
                throw new InvalidOperationException(NoVersionFolder);
            }
            VerifyConfig(source, configBytes);
        }
        var config = ReadConfig(source, configBytes);
        var selected = config.VersionPolicy.Select(source.Versions);
        if (selected.Count == 0)
        {
            throw new InvalidOperationException(source.Versions.Count == 0
                ? NoVersionFolder
                : $"version_policy selects none of the versions present ({string.Join(", ", source.Versions)})");
        }
        var versions = ImmutableSortedDictionary.CreateBuilder<long, LoadedModel>();
        try
        {
            foreach (var version in selected)
            {
                versions[version] = config.Ensemble is null
                    ? LoadVersion(source, config, configBytes, version)
                    : LoadedModel.CreateEnsemble(config, version, EnsemblePlanner.Plan(config, composing), composing, pool, time, loggerFactory, options.Metrics, ResponseCacheFor(config));
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

    /// <summary>config.pbtxt's bytes, read once (null when there is none): the same bytes are
    /// verified against the signed manifests and then parsed.</summary>
    private static byte[]? ReadConfigBytes(ModelSource source)
    {
        try
        {
            return File.Exists(source.ConfigPath) ? TextFormatParser.ReadFileBytes(source.ConfigPath) : null;
        }
        catch (ConfigFormatException e)
        {
            throw new InvalidOperationException($"config.pbtxt: {e.Message}", e);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>With --model-trust-key: config.pbtxt's bytes must be vouched for by a signed
    /// manifest before the parser sees them.</summary>
    private void VerifyConfig(ModelSource source, byte[]? configBytes)
    {
        try
        {
            options.Trust.VerifyConfig([.. source.Versions.Select(source.VersionDirectory)], configBytes);
        }
        catch (ModelSignatureException e)
        {
            audit.Write("model-refused", ("model", source.Name), ("reason", e.Message));
            throw new InvalidOperationException(e.Message, e);
        }
    }

    /// <summary>config.pbtxt as written (or empty when absent and auto-complete is on), with the
    /// backend and platform filled in from the backend that serves the model.</summary>
    private ModelConfig ReadConfig(ModelSource source, byte[]? configBytes)
    {
        ModelConfig config;
        if (configBytes is not null)
        {
            try
            {
                config = ModelConfigReader.Parse(TextFormatParser.Decode(configBytes), source.Name);
            }
            catch (ConfigFormatException e)
            {
                throw new InvalidOperationException($"config.pbtxt: {e.Message}", e);
            }
            foreach (var field in config.IgnoredFields.Distinct())
            {
                Log.IgnoredField(_logger, source.Name, field);
            }
        }
        else if (options.AutoCompleteConfig)
        {
            config = ModelConfigReader.Parse("", source.Name);
        }
        else
        {
            throw new InvalidOperationException("config.pbtxt is missing and auto-complete is disabled (--disable-auto-complete-config)");
        }

        if (config.Ensemble is not null)
        {
            return config; // no backend: its steps' models run it
        }
        var backend = config.Platform.Length == 0 && config.Backend.Length == 0
            ? backends.Detect(NewestVersionDirectory(source))
                ?? throw new InvalidOperationException(
                    $"the configuration names no platform or backend, and no {string.Join(" or ", backends.Backends.Select(b => b.DefaultModelFileName))} says which")
            : backends.Resolve(config);
        return config with
        {
            Backend = backend.Name,
            Platform = config.Platform.Length > 0 ? config.Platform : backend.Platforms[0],
        };
    }

    /// <summary>The models an ensemble's steps name, read from its config.pbtxt without loading
    /// anything; empty for any other model, or when the file cannot be read (its load says why).</summary>
    public static IReadOnlyList<string> ComposingModels(ModelSource source)
    {
        try
        {
            var config = File.Exists(source.ConfigPath) ? ModelConfigReader.Parse(TextFormatParser.ReadFile(source.ConfigPath), source.Name) : null;
            return config?.Ensemble is { } ensemble ? [.. ensemble.Steps.Select(step => step.ModelName).Distinct(StringComparer.Ordinal)] : [];
        }
        catch (Exception e) when (e is ConfigFormatException or IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static string NewestVersionDirectory(ModelSource source) =>
        source.Versions.Count > 0 ? source.VersionDirectory(source.Versions[^1]) : source.Directory;

    /// <summary>Called with (model, version, folder of the verified copy) after a signed version's
    /// files were verified and copied, just before the backend loads the copy. Tests swap
    /// repository files here to show that what loads is the verified copy.</summary>
    internal Action<string, long, string>? VersionVerified { get; set; }

    private LoadedModel LoadVersion(ModelSource source, ModelConfig config, byte[]? configBytes, long version)
    {
        try
        {
            return LoadVersionChecked(source, config, configBytes, version);
        }
        catch (ModelFileException e)
        {
            // Callers get the reason in our words; the native library's own text stays here.
            Log.NativeLoadFailure(_logger, source.Name, version, e.NativeMessage);
            throw;
        }
    }

    private LoadedModel LoadVersionChecked(ModelSource source, ModelConfig config, byte[]? configBytes, long version)
    {
        if (!options.Trust.Enforced)
        {
            var loaded = LoadVersionFrom(source, config, version, source.Root, source.VersionDirectory(version));
            if (audit.Enabled)
            {
                // Read after the load: a record of what was on disk, not a proof of what loaded
                // (that needs --model-trust-key).
                audit.Write("model-load", ("model", source.Name), ("version", version), ("signed", false), ("files", ModelSignature.HashFiles(source.VersionDirectory(version))));
            }
            return loaded;
        }
        // The backend loads a private copy made from the bytes that were hashed, so a file
        // swapped in the repository after the check is never loaded. The copy goes once the
        // instances have read it.
        using var copy = CopyVerified(source, configBytes, version);
        VersionVerified?.Invoke(source.Name, version, copy.Directory);
        var verified = LoadVersionFrom(source, config, version, Path.GetDirectoryName(copy.Directory)!, copy.Directory);
        audit.Write("model-load", ("model", source.Name), ("version", version), ("signed", true), ("files", copy.Hashes));
        return verified;
    }

    private VerifiedModelCopy CopyVerified(ModelSource source, byte[]? configBytes, long version)
    {
        try
        {
            return options.Trust.CopyVerified(source.VersionDirectory(version), configBytes);
        }
        catch (ModelSignatureException e)
        {
            audit.Write("model-refused", ("model", source.Name), ("version", version), ("reason", e.Message));
            throw new InvalidOperationException($"version {version}: {e.Message}", e);
        }
    }

    /// <summary>Creates the instances of one version from the files in <paramref name="versionDirectory"/>,
    /// every one of which must lie inside <paramref name="root"/> (the repository, or the verified copy).</summary>
    private LoadedModel LoadVersionFrom(ModelSource source, ModelConfig config, long version, string root, string versionDirectory)
    {
        var backend = backends.Resolve(config);
        var modelPath = ModelRepository.Confine(root, ModelInstanceFactory.ModelFilePath(config, backend, versionDirectory));
        ConfineReferencedFiles(root, backend, modelPath);
        // Sequence tensors that clash with what config.pbtxt declares are refused as written; those
        // auto-complete found in the model are the batcher's, not the clients'.
        if (SequenceModelTensors.Problem(config) is { } clash)
        {
            throw new InvalidOperationException(clash);
        }
        if (options.AutoCompleteConfig)
        {
            config = SequenceModelTensors.ForClients(backend.AutoComplete(config, modelPath));
        }
        if ((backend.ConfigProblem(SequenceModelTensors.ForBackend(config)) ?? PipelineDepth.Problem(config)) is { } problem)
        {
            throw new InvalidOperationException(problem);
        }
        config = SequenceInitialStates.Read(config, source);
        // Before any instance exists: a wrong embedding setting or vocabulary fails the load cheaply.
        var embedding = EmbeddingModel.Load(config, root, versionDirectory);
        var placement = DevicePlacement.Place(config, gpus, backend.DefaultCpuInstanceCount, backend.NoGpuReason is null, backend.NoGpuReason);
        foreach (var warning in placement.Warnings)
        {
            Log.PlacementWarning(_logger, source.Name, warning);
        }
        config = config with { InstanceGroups = placement.Groups };
        // The backend sees the sequence batcher's control and state tensors too; clients do not.
        var instances = ModelInstanceFactory.CreateInstances(SequenceModelTensors.ForBackend(config), backend, modelPath, pool, placement.Instances);
        try
        {
            ModelWarmup.Run(config, instances, source, pool);
        }
        catch
        {
            foreach (var instance in instances)
            {
                instance.Dispose();
            }
            throw;
        }
        return LoadedModel.Create(config, version, instances, pool, time, loggerFactory, Path.GetFileName(modelPath), options.Metrics, ResponseCacheFor(config), embedding);
    }

    /// <summary>The server's response cache when <paramref name="config"/> enables it and Triton would
    /// use it; otherwise null, saying why when the configuration asked for it.</summary>
    private Caching.ResponseCache? ResponseCacheFor(ModelConfig config)
    {
        if (!config.ResponseCache)
        {
            return null;
        }
        if (!config.CachesResponses)
        {
            Log.NotCached(_logger, config.Name, config.Decoupled ? "decoupled" : "sequence-batched");
            return null;
        }
        if (options.ResponseCache is null)
        {
            Log.NoServerCache(_logger, config.Name);
        }
        return options.ResponseCache;
    }

    /// <summary>Every file the backend will open beside the model must lie inside the repository.</summary>
    private static void ConfineReferencedFiles(string root, IModelBackend backend, string modelPath)
    {
        var directory = Path.GetDirectoryName(modelPath)!;
        foreach (var location in backend.ReferencedFiles(modelPath))
        {
            if (Path.IsPathRooted(location))
            {
                throw new InvalidOperationException(
                    $"{Path.GetFileName(modelPath)} names external data at the absolute path '{location}'; external data must sit beside the model");
            }
            ModelRepository.Confine(root, Path.Combine(directory, location));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Model '{Model}': config field '{Field}' is not supported and is ignored")]
        public static partial void IgnoredField(ILogger logger, string model, string field);

        [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "Model '{Model}': {Warning}")]
        public static partial void PlacementWarning(ILogger logger, string model, string warning);

        [LoggerMessage(EventId = 110, Level = LogLevel.Warning, Message = "Model '{Model}': response_cache is enabled but the server has no response cache (--cache-config local,size=<bytes>); responses are not cached")]
        public static partial void NoServerCache(ILogger logger, string model);

        [LoggerMessage(EventId = 111, Level = LogLevel.Warning, Message = "Model '{Model}': response_cache is enabled but the model is {Kind}, and such models are never cached")]
        public static partial void NotCached(ILogger logger, string model, string kind);

        [LoggerMessage(EventId = 109, Level = LogLevel.Error, Message = "Model '{Model}' version {Version}: the backend's native library refused the model file: {NativeMessage}")]
        public static partial void NativeLoadFailure(ILogger logger, string model, long version, string nativeMessage);
    }
}
