using Fabrik.Errors;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// One registered region, system or CUDA: <see cref="ByteSize"/> bytes that tensors are read from
/// and written to at offsets the requests name.
/// </summary>
/// <remarks>
/// Leases, as models have: the registration holds one, and each request that reads or writes the
/// region holds one while it does. Unregistering gives up the registration's lease; what the
/// region holds open is closed when the last lease is released, so a region unregistered while a
/// request copies from it finishes that copy and is then gone. Thread-safe.
/// </remarks>
internal abstract class SharedMemoryRegion(string name, long byteSize)
{
    private int _leases = 1;

    public string Name { get; } = name;

    /// <summary>The region's size (checked at registration against what really exists).</summary>
    public long ByteSize { get; } = byteSize;

    /// <summary>"system" or "cuda", as the audit log and the errors name the kinds.</summary>
    public abstract string Kind { get; }

    /// <summary>Takes a lease; false once the region is unregistered and its last lease gone.</summary>
    public bool TryAcquire()
    {
        var leases = Volatile.Read(ref _leases);
        while (leases > 0)
        {
            var seen = Interlocked.CompareExchange(ref _leases, leases + 1, leases);
            if (seen == leases)
            {
                return true;
            }
            leases = seen;
        }
        return false;
    }

    /// <summary>Gives a lease back (the registration's own on unregister); the last one closes the region.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _leases) == 0)
        {
            Close();
        }
    }

    /// <summary>Checks that <paramref name="byteSize"/> bytes from <paramref name="offset"/> lie
    /// inside the region, without overflow.</summary>
    public void CheckRange(string tensor, long offset, long byteSize)
    {
        if (offset < 0 || byteSize < 0 || offset > ByteSize || byteSize > ByteSize - offset)
        {
            throw InferenceException.InvalidArgument(
                $"tensor '{tensor}': shared_memory_offset {offset} + shared_memory_byte_size {byteSize} reaches past the end of region '{Name}' ({ByteSize} bytes)");
        }
    }

    /// <summary>Reads <paramref name="destination"/>'s length from <paramref name="offset"/> in the
    /// region (a range <see cref="CheckRange"/> has passed). Hold a lease.</summary>
    public abstract void Read(string tensor, long offset, Span<byte> destination);

    /// <summary>Writes <paramref name="source"/> at <paramref name="offset"/> in the region (a range
    /// <see cref="CheckRange"/> has passed). Hold a lease.</summary>
    public abstract void Write(string tensor, long offset, ReadOnlySpan<byte> source);

    /// <summary>Closes what the region holds open; called once, when the last lease is gone.</summary>
    protected abstract void Close();
}
