using System.Collections.Immutable;
using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Execution;
using Fabrik.Native;
using Fabrik.Security;
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
    private readonly ILogger _logger = loggerFactory.CreateLogger<ModelLoader>();

    /// <summary>Loads every version the version policy selects. Either all load, or none stays
    /// loaded and the exception says why.</summary>
    public ImmutableSortedDictionary<long, LoadedModel> LoadVersions(ModelSource source)
    {
        ModelRepository.Confine(source.Root, source.Directory);
        var config = ReadConfig(source);
        var selected = config.VersionPolicy.Select(source.Versions);
        if (selected.Count == 0)
        {
            throw new InvalidOperationException(source.Versions.Count == 0
                ? "no version folder (such as 1/) holds a model file"
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

    /// <summary>config.pbtxt as written (or empty when absent and auto-complete is on), with the
    /// backend and platform filled in from the backend that serves the model.</summary>
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

    private static string NewestVersionDirectory(ModelSource source) =>
        source.Versions.Count > 0 ? source.VersionDirectory(source.Versions[^1]) : source.Directory;

    private LoadedModel LoadVersion(ModelSource source, ModelConfig config, long version)
    {
        var verified = VerifySignature(source, version);
        var loaded = LoadVerifiedVersion(source, config, version);
        if (verified is not null || audit.Enabled)
        {
            // The files are hashed again after the backend read them: a file swapped while it
            // was being loaded is refused (see docs/security.md for the window that remains).
            var hashes = ModelSignature.HashFiles(source.VersionDirectory(version));
            if (verified is not null && !hashes.SequenceEqual(verified))
            {
                loaded.DisposeAsync().AsTask().GetAwaiter().GetResult();
                audit.Write("model-refused", ("model", source.Name), ("version", version), ("reason", "files changed while loading"));
                throw new InvalidOperationException($"version {version}: files changed while the model was loading; refused");
            }
            audit.Write("model-load", ("model", source.Name), ("version", version), ("signed", verified is not null), ("files", hashes));
        }
        return loaded;
    }

    /// <summary>With --model-trust-key, the version's verified file hashes; otherwise null.</summary>
    private IReadOnlyDictionary<string, string>? VerifySignature(ModelSource source, long version)
    {
        try
        {
            return options.Trust.Verify(source.VersionDirectory(version));
        }
        catch (ModelSignatureException e)
        {
            audit.Write("model-refused", ("model", source.Name), ("version", version), ("reason", e.Message));
            throw new InvalidOperationException($"version {version}: {e.Message}", e);
        }
    }

    private LoadedModel LoadVerifiedVersion(ModelSource source, ModelConfig config, long version)
    {
        var backend = backends.Resolve(config);
        var modelPath = ModelRepository.Confine(source.Root, ModelInstanceFactory.ModelFilePath(config, backend, source.VersionDirectory(version)));
        ConfineReferencedFiles(source, backend, modelPath);
        if (options.AutoCompleteConfig)
        {
            config = backend.AutoComplete(config, modelPath);
        }
        if (backend.ConfigProblem(config) is { } problem)
        {
            throw new InvalidOperationException(problem);
        }
        var placement = DevicePlacement.Place(config, gpus, backend.DefaultCpuInstanceCount, backend.NoGpuReason is null, backend.NoGpuReason);
        foreach (var warning in placement.Warnings)
        {
            Log.PlacementWarning(_logger, source.Name, warning);
        }
        config = config with { InstanceGroups = placement.Groups };
        var instances = ModelInstanceFactory.CreateInstances(config, backend, modelPath, pool, placement.Instances);
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
        return LoadedModel.Create(config, version, instances, pool, time, loggerFactory, Path.GetFileName(modelPath), options.Metrics);
    }

    /// <summary>Every file the backend will open beside the model must lie inside the repository.</summary>
    private static void ConfineReferencedFiles(ModelSource source, IModelBackend backend, string modelPath)
    {
        var directory = Path.GetDirectoryName(modelPath)!;
        foreach (var location in backend.ReferencedFiles(modelPath))
        {
            if (Path.IsPathRooted(location))
            {
                throw new InvalidOperationException(
                    $"{Path.GetFileName(modelPath)} names external data at the absolute path '{location}'; external data must sit beside the model");
            }
            ModelRepository.Confine(source.Root, Path.Combine(directory, location));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Model '{Model}': config field '{Field}' is not supported and is ignored")]
        public static partial void IgnoredField(ILogger logger, string model, string field);

        [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "Model '{Model}': {Warning}")]
        public static partial void PlacementWarning(ILogger logger, string model, string warning);
    }
}
