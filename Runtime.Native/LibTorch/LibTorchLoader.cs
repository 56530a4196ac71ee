using System.Reflection;
using System.Runtime.InteropServices;

namespace Fabrik.Native.LibTorch;

/// <summary>
/// Loads an outside libtorch into the process before TorchSharp initialises: its libraries by
/// full path, dependencies first, then TorchSharp's shim (<c>libLibTorchSharp.so</c>) from beside
/// TorchSharp, whose references to libtorch resolve (by soname) to the libraries already loaded.
/// Called once, at start, before anything touches TorchSharp.
/// </summary>
public static class LibTorchLoader
{
    private static readonly string[] CudaLibraries = ["libc10_cuda.so", "libtorch_cuda.so"];

    /// <summary>The outside libtorch in use, or null when the build's own is.</summary>
    public static LibTorchLocation? Active { get; private set; }

    /// <exception cref="LibTorchSetupException">A library failed to load.</exception>
    public static void Load(LibTorchLocation location, Assembly torchSharp)
    {
        string[] order = location.HasCudaLibraries
            ? ["libc10.so", "libtorch_cpu.so", .. CudaLibraries, "libtorch.so"]
            : ["libc10.so", "libtorch_cpu.so", "libtorch.so"];
        var setting = location.Variable == LibTorchLocator.PythonVariable
            ? $"{LibTorchLocator.PythonVariable}=1 ({location.Folder})"
            : $"{LibTorchLocator.FolderVariable}={location.Folder}";
        RefuseBesideBundledLibTorch(location, setting);
        foreach (var library in order)
        {
            var path = Path.Combine(location.Folder, library);
            try
            {
                NativeLibrary.Load(path);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                throw new LibTorchSetupException($"{setting}: {path} could not be loaded: {LoaderReason(e.Message, path)}");
            }
        }
        try
        {
            NativeLibrary.Load(NativeMethods.Library, torchSharp, DllImportSearchPath.AssemblyDirectory);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new LibTorchSetupException(
                $"{setting}: TorchSharp's libLibTorchSharp.so could not be loaded over this libtorch: {LoaderReason(e.Message, null)}");
        }
        Active = location;
    }

    // TorchSharp probes for libtorch_cpu.so beside its own assembly when it initialises (no
    // resolver can intercept that probe), so a build that carries its own libtorch there would
    // load it a second time beside the outside one, and two copies abort the process as they
    // register their operators. Such a build is refused in words instead.
    private static void RefuseBesideBundledLibTorch(LibTorchLocation location, string setting)
    {
        // TorchSharp.dll sits in the application's folder in every build and publish layout.
        var beside = AppContext.BaseDirectory;
        var bundled = Path.Combine(beside, "libtorch_cpu.so");
        if (File.Exists(bundled) && Path.GetFullPath(beside) != Path.GetFullPath(location.Folder))
        {
            throw new LibTorchSetupException(
                $"{setting}: this build carries its own libtorch ({bundled}), which TorchSharp would load as well; "
                + "run an outside libtorch from a build without it (dotnet publish -p:BundleLibTorch=false, as the cuda image is built)");
        }
    }

    // The dynamic loader's reason (a missing dependency, a missing symbol, not an ELF file) is
    // what an operator needs; .NET wraps it in a long sentence that repeats the path.
    private static string LoaderReason(string message, string? path)
    {
        var reason = message;
        if (path is not null)
        {
            var at = reason.IndexOf(path + ":", StringComparison.Ordinal);
            if (at >= 0)
            {
                reason = reason[(at + path.Length + 1)..];
            }
        }
        reason = reason.Split('\n')[0].Trim();
        return reason.Length > 300 ? reason[..300] + "…" : reason;
    }
}
