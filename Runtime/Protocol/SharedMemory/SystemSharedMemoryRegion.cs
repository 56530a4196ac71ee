using Fabrik.Errors;
using Fabrik.Native.SharedMemory;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// One registered system shared-memory region: <see cref="ByteSize"/> bytes from
/// <see cref="Offset"/> in the object that <see cref="Key"/> names.
/// </summary>
/// <remarks>
/// Leases, as models have: the registration holds one, and each request that reads or writes the
/// region holds one while it does. Unregistering gives up the registration's lease; the object's
/// descriptor is closed when the last lease is released, so a region unregistered while a request
/// copies from it finishes that copy and is then gone. Thread-safe.
/// </remarks>
internal sealed class SystemSharedMemoryRegion
{
    private readonly SharedMemoryObject _object;
    private int _leases = 1;

    public SystemSharedMemoryRegion(string name, string key, long offset, long byteSize, SharedMemoryObject opened)
    {
        Name = name;
        Key = key;
        Offset = offset;
        ByteSize = byteSize;
        _object = opened;
    }

    public string Name { get; }

    public string Key { get; }

    /// <summary>Where the region starts in the object.</summary>
    public long Offset { get; }

    /// <summary>The region's size; <see cref="Offset"/> + this fits a long (checked at registration).</summary>
    public long ByteSize { get; }

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

    /// <summary>Gives a lease back (the registration's own on unregister); the last one closes the object.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _leases) == 0)
        {
            _object.Dispose();
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
    public void Read(string tensor, long offset, Span<byte> destination)
    {
        CheckObjectSize(tensor, offset, destination.Length);
        if (_object.Read(destination, Offset + offset) != destination.Length)
        {
            throw Shrunk(tensor);
        }
    }

    /// <summary>Writes <paramref name="source"/> at <paramref name="offset"/> in the region (a range
    /// <see cref="CheckRange"/> has passed). Hold a lease.</summary>
    public void Write(string tensor, long offset, ReadOnlySpan<byte> source)
    {
        // Checked first so that an object the client shrank is not grown back by the write.
        CheckObjectSize(tensor, offset, source.Length);
        _object.Write(source, Offset + offset);
    }

    private void CheckObjectSize(string tensor, long offset, long length)
    {
        if (_object.CurrentSize() < Offset + offset + length)
        {
            throw Shrunk(tensor);
        }
    }

    private InferenceException Shrunk(string tensor) => InferenceException.InvalidArgument(
        $"tensor '{tensor}': the object behind shared memory region '{Name}' is now smaller than the region (it was truncated after registration); register it again");
}
