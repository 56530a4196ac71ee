namespace Fabrik.Native.Cuda;

/// <summary>
/// Device memory of another process, opened from its CUDA IPC handle (cuIpcOpenMemHandle) in this
/// process's primary context of the device, and closed (cuIpcCloseMemHandle) when disposed.
/// <see cref="Length"/> is the whole exported allocation as the driver reports it, so a client's
/// claimed size is checked against what really exists before anything is copied.
/// </summary>
/// <remarks>Copies run on a stream of the mapping's own that does not synchronise with the legacy
/// default stream (so they never wait for ONNX Runtime's work), and return once the copy has
/// landed: a copy from pageable host memory may otherwise return before the device has the bytes,
/// and the client reads its output region as soon as the answer arrives. Copies may run from any
/// thread at once (the driver orders them on the stream); whoever disposes must know that none is
/// still running (the region's leases).</remarks>
public sealed class IpcDeviceMemory : CudaResource
{
    private readonly CudaStream _stream;

    internal IpcDeviceMemory(CudaContext context, ulong address, long length, CudaStream stream)
        : base(context, (IntPtr)(long)address)
    {
        Length = length;
        _stream = stream;
    }

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
            CudaResult.Check(NativeMethods.MemcpyDtoHAsync((IntPtr)bytes, (ulong)(long)handle + (ulong)offset, (nuint)destination.Length, _stream.Handle), "cuMemcpyDtoHAsync");
            CudaResult.Check(NativeMethods.StreamSynchronize(_stream.Handle), "cuStreamSynchronize");
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
            CudaResult.Check(NativeMethods.MemcpyHtoDAsync((ulong)(long)handle + (ulong)offset, (IntPtr)bytes, (nuint)source.Length, _stream.Handle), "cuMemcpyHtoDAsync");
            CudaResult.Check(NativeMethods.StreamSynchronize(_stream.Handle), "cuStreamSynchronize");
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

    private protected override int Free(IntPtr address)
    {
        _stream.Dispose();
        return NativeMethods.IpcCloseMemHandle((ulong)(long)address);
    }
}
