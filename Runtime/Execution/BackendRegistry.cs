using Fabrik.Configuration;
using Fabrik.Execution.OnnxRuntime;
using Fabrik.Execution.TorchSharp;

namespace Fabrik.Execution;

/// <summary>The backends this build runs, found by a configuration's backend or platform name, or
/// by the model file a version folder holds. Immutable after construction.</summary>
internal sealed class BackendRegistry
{
    /// <summary>Every backend of this build. Adding a backend is one line here.</summary>
    public static BackendRegistry Default { get; } = new(
    [
        new OnnxRuntimeBackend(),
        new TorchScriptBackend(),
    ]);

    /// <summary>Loads the native libraries that the environment points a backend at (an outside
    /// libtorch: LIBTORCH, LIBTORCH_USE_PYTORCH) before any backend runs. Called once, at start.</summary>
    /// <exception cref="Native.LibTorch.LibTorchSetupException">The named libraries cannot be used.</exception>
    public static void PrepareNativeLibraries(Func<string, string?> environment) => LibTorchSetup.Initialize(environment);

    /// <summary>Which native libraries the backends run on, a line each (start-up log, <c>fabrik devices</c>).</summary>
    public static IEnumerable<string> DescribeNativeLibraries() => LibTorchSetup.Describe();

    /// <summary>A warning about those libraries for the start-up log, or null.</summary>
    public static string? NativeLibraryWarning => LibTorchSetup.Warning;

    public BackendRegistry(IReadOnlyList<IModelBackend> backends) => Backends = backends;

    public IReadOnlyList<IModelBackend> Backends { get; }

    /// <summary>The backend a configuration names: by <c>backend</c> when set, else by <c>platform</c>.</summary>
    /// <exception cref="InvalidOperationException">No backend of this build serves it.</exception>
    public IModelBackend Resolve(ModelConfig config)
    {
        foreach (var backend in Backends)
        {
            if (config.Backend.Length > 0 ? backend.Name == config.Backend : backend.Platforms.Contains(config.Platform))
            {
                return backend;
            }
        }
        throw new InvalidOperationException(
            $"unsupported platform '{config.Platform}' / backend '{config.Backend}': Fabrik runs {string.Join(", ", Backends.Select(backend => $"{string.Join(" / ", backend.Platforms)} ({backend.Name})"))} models");
    }

    /// <summary>The backend whose default model file <paramref name="versionDirectory"/> holds, or null.</summary>
    public IModelBackend? Detect(string versionDirectory) =>
        Backends.FirstOrDefault(backend => File.Exists(Path.Combine(versionDirectory, backend.DefaultModelFileName)));
}
