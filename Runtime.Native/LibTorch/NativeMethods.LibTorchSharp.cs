using System.Runtime.InteropServices;

namespace Fabrik.Native.LibTorch;

/// <summary>
/// The one LibTorchSharp entry point TorchSharp does not expose in a usable form:
/// <c>THSTensor_new</c>, libtorch's <c>from_blob</c> with a deleter. TorchSharp's own factories
/// either copy or convert element types from the .NET array's type, so a byte buffer cannot be
/// viewed as FP32 without them. The signature is that of TorchSharp 0.107 (see
/// Directory.Packages.props); <see cref="HostTensors"/> checks it once and falls back if it fails.
/// </summary>
internal static unsafe partial class NativeMethods
{
    /// <summary>TorchSharp's native library, which TorchSharp has already loaded by the time
    /// this is called.</summary>
    public const string Library = "LibTorchSharp";

    [LibraryImport(Library, EntryPoint = "THSTensor_new")]
    public static partial IntPtr TensorNew(
        IntPtr data,
        delegate* unmanaged<IntPtr, void> deleter,
        long* sizes,
        int dimensionCount,
        sbyte scalarType,
        sbyte dtype,
        int deviceType,
        int deviceIndex,
        [MarshalAs(UnmanagedType.U1)] bool requiresGrad);
}
