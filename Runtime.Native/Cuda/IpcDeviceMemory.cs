namespace Fabrik.Native.Cuda;

/// <summary>
/// Device memory of another process, opened from its CUDA IPC handle (cuIpcOpenMemHandle) in this
/// process's primary context of the device, and closed (cuIpcCloseMemHandle) when disposed.
/// <see cref="Length"/> is the whole exported allocation as the driver reports it, so a client's
/// claimed size is checked against what really exists before anything is copied.
/// </summary>
/// <remarks>Copies are synchronous and may run from any thread at once (the driver orders them);
/// whoever disposes must know that no copy is still running (the region's leases).</remarks>
public sealed class IpcDeviceMemory : CudaResource
{
    internal IpcDeviceMemory(CudaContext context, ulong address, long length)
        : base(context, (IntPtr)(long)address) => Length = length;

    /// <summary>Bytes from the opened address to the end of the exported allocation.</summary>
    public long Length { get; }

    /// <summary>Copies <paramref name="destination"/>'s length from <paramref name="offset"/> to the host.</summary>
    /// <exception cref="NativeException">The driver refused (its message included).</exception>
    public unsafe void CopyToHost(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        using var scope = Context.Enter();
        fixed (byte* bytes = destination)
        {
            CudaResult.Check(NativeMethods.MemcpyDtoH((IntPtr)bytes, (ulong)(long)handle + (ulong)offset, (nuint)destination.Length), "cuMemcpyDtoH");
        }
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="offset"/> on the device.</summary>
    /// <exception cref="NativeException">The driver refused (its message included).</exception>
    public unsafe void CopyFromHost(long offset, ReadOnlySpan<byte> source)
    {
        CheckRange(offset, source.Length);
        using var scope = Context.Enter();
        fixed (byte* bytes = source)
        {
            CudaResult.Check(NativeMethods.MemcpyHtoD((ulong)(long)handle + (ulong)offset, (IntPtr)bytes, (nuint)source.Length), "cuMemcpyHtoD");
        }
    }

    private void CheckRange(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(IsClosed, this);
        if (offset < 0 || offset > Length || length > Length - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"{length} bytes from {offset} reach past the {Length}-byte allocation");
        }
    }

    private protected override int Free(IntPtr address) => NativeMethods.IpcCloseMemHandle((ulong)(long)address);
}
