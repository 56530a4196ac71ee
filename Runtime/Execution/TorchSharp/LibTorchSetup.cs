using System.Globalization;
using System.Reflection;
using Fabrik.Devices;
using Fabrik.Native.LibTorch;
using TorchSharp;

namespace Fabrik.Execution.TorchSharp;

/// <summary>
/// Which libtorch TorchScript runs on: the build's own (TorchSharp's package, CPU unless built
/// with TorchSharp's CUDA flavour), or an outside one that <c>LIBTORCH</c> or
/// <c>LIBTORCH_USE_PYTORCH</c> names (a PyTorch install, a libtorch archive, an HPC module),
/// which is how TorchScript reaches a GPU without TorchSharp's CUDA packages.
/// </summary>
/// <remarks><see cref="Initialize"/> runs once, at start, before anything touches TorchSharp;
/// afterwards everything here is read-only.</remarks>
internal static class LibTorchSetup
{
    // Counting GPUs initialises libtorch's CUDA: done once, on first need (a model placement or
    // the devices report), never on a host whose libtorch has no CUDA.
    private static readonly Lazy<int> CudaDevices = new(CountCudaDevices);

    /// <summary>The outside libtorch in use, or null.</summary>
    public static LibTorchLocation? External => LibTorchLoader.Active;

    /// <summary>The libtorch version TorchSharp was built against ("2.10.0").</summary>
    public static string BuiltAgainst { get; } =
        typeof(torch).GetField("libtorchPackageVersion", BindingFlags.NonPublic | BindingFlags.Static)?.GetRawConstantValue() as string
        ?? "unknown";

    /// <summary>GPUs libtorch can run on: 0 without CUDA.</summary>
    public static int CudaDeviceCount => CudaDevices.Value;

    /// <summary>Why TorchScript cannot run on a GPU here, or null when it can. It becomes a model's
    /// load failure, which network callers see: it names the setting, never the folder.</summary>
    public static string? NoCudaReason => CudaDeviceCount > 0 ? null : External switch
    {
        null => "this build's libtorch is the CPU one: point LIBTORCH at a CUDA libtorch or set LIBTORCH_USE_PYTORCH=1 "
            + "(or build with -p:Accelerator=cuda -p:TorchSharpCuda=true)",
        { HasCudaLibraries: false } outside => $"the libtorch that {outside.Variable} names has no CUDA libraries",
        { } outside => $"the libtorch that {outside.Variable} names has CUDA but sees no GPU",
    };

    /// <summary>A warning for the start-up log (an outside libtorch of another version than
    /// TorchSharp's), or null.</summary>
    public static string? Warning { get; private set; }

    /// <summary>Loads the libtorch the environment names, if any.</summary>
    /// <exception cref="LibTorchSetupException">The named libtorch cannot be used.</exception>
    public static void Initialize(Func<string, string?> environment)
    {
        if (LibTorchLocator.FromEnvironment(environment) is not { } location)
        {
            return;
        }
        var expected = LibTorchVersion.MajorMinor(BuiltAgainst);
        LibTorchLoader.Load(location, typeof(torch).Assembly);
        MarkNativeBackendLoaded(location.HasCudaLibraries);
        Warning = location.MajorMinor is null
            ? $"the libtorch in {location.Folder} ({location.Variable}) does not say its version; TorchSharp was built against {BuiltAgainst}"
            : location.MajorMinor != expected
                ? $"the libtorch in {location.Folder} ({location.Variable}) is version {location.Version}; TorchSharp was built against {BuiltAgainst}"
                : null;
    }

    /// <summary>Lines for <c>fabrik devices</c> and the start-up log.</summary>
    public static IEnumerable<string> Describe()
    {
        yield return External is { } outside
            ? $"libtorch: {outside.Folder} (from {outside.Variable}), version {outside.Version ?? "unknown"}, CUDA libraries: {(outside.HasCudaLibraries ? "yes" : "no")}"
            : $"libtorch: this build's own, version {BuiltAgainst} ({(DevicePlacement.LibTorchHasCuda ? "CUDA" : "CPU")})";
        yield return NoCudaReason is { } reason
            ? $"TorchScript on GPUs: no ({reason})"
            : string.Create(CultureInfo.InvariantCulture, $"TorchScript on GPUs: yes, libtorch sees {CudaDeviceCount} GPU(s)");
    }

    // TorchSharp loads its native side on first use by probing beside its assembly, which would
    // load the build's own libtorch a second time beside the outside one (two copies register
    // every operator twice). Its flags say that loading is done; the libraries above are that.
    private static void MarkNativeBackendLoaded(bool cuda)
    {
        string[] flags = cuda ? ["nativeBackendLoaded", "nativeBackendCudaLoaded"] : ["nativeBackendLoaded"];
        foreach (var name in flags)
        {
            var field = typeof(torch).GetField(name, BindingFlags.NonPublic | BindingFlags.Static)
                ?? throw new LibTorchSetupException(
                    $"TorchSharp {typeof(torch).Assembly.GetName().Version} cannot be pointed at an outside libtorch ({name} not found); unset {LibTorchLocator.FolderVariable} and {LibTorchLocator.PythonVariable}");
            field.SetValue(null, true);
        }
    }

    private static int CountCudaDevices()
    {
        var mayHaveCuda = External is { } outside ? outside.HasCudaLibraries : DevicePlacement.LibTorchHasCuda;
        return mayHaveCuda && torch.cuda.is_available() ? torch.cuda.device_count() : 0;
    }
}
