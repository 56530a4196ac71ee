namespace Fabrik.Native.Cuda;

/// <summary>Page-locked host memory from cuMemHostAlloc: the device copies to and from it by DMA,
/// asynchronously. Whoever allocates it accounts for it (the pinned memory pool's limit).</summary>
public sealed class PinnedHostMemory : CudaResource
{
    internal PinnedHostMemory(CudaContext context, IntPtr pointer, long length)
        : base(context, pointer) => Length = length;

    /// <summary>Bytes allocated.</summary>
    public long Length { get; }

    /// <summary>The start of the memory. Valid until this handle is disposed.</summary>
    public IntPtr Pointer => handle;

    /// <summary>The first <paramref name="length"/> bytes, for the host to write or read.</summary>
    public unsafe Span<byte> AsSpan(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        ObjectDisposedException.ThrowIf(IsClosed, this);
        return new Span<byte>((void*)handle, length);
    }

    private protected override int Free(IntPtr pointer) => NativeMethods.MemFreeHost(pointer);
}
