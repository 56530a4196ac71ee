using System.Runtime.InteropServices;

namespace Fabrik.Native.LibTorch;

/// <summary>
/// libtorch CPU tensors that view host memory the caller owns, with no copy.
/// </summary>
/// <remarks>
/// Ownership: libtorch never frees the memory (the deleter does nothing). The caller keeps the
/// memory alive and unmoved (pinned) until the tensor, and every view of it, is disposed.
/// Thread-safe.
/// </remarks>
public static unsafe class HostTensors
{
    private const int CpuDeviceType = 0;

    private static volatile bool s_unavailable;

    /// <summary>
    /// A native tensor handle over <paramref name="data"/> with <paramref name="shape"/> and
    /// libtorch scalar type <paramref name="scalarType"/>, for TorchSharp's
    /// <c>Tensor.UnsafeCreateTensor</c>. Returns <see cref="IntPtr.Zero"/> when LibTorchSharp
    /// lacks the entry point or refuses the arguments; the caller then copies instead.
    /// </summary>
    public static IntPtr Wrap(IntPtr data, ReadOnlySpan<long> shape, sbyte scalarType)
    {
        if (s_unavailable)
        {
            return IntPtr.Zero;
        }
        try
        {
            fixed (long* sizes = shape)
            {
                return NativeMethods.TensorNew(data, &KeepMemory, sizes, shape.Length, scalarType, scalarType, CpuDeviceType, -1, requiresGrad: false);
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            s_unavailable = true;
            return IntPtr.Zero;
        }
    }

    /// <summary>The deleter libtorch calls when the last view goes: the memory is not libtorch's.</summary>
    [UnmanagedCallersOnly]
    private static void KeepMemory(IntPtr data)
    {
    }
}
