using System.Security.Cryptography;
using Fabrik.Protocol.SharedMemory;

namespace Fabrik.Testing.SimulatedDevice;

/// <summary>
/// CUDA IPC as a host without a GPU can play it, for tests: another process's device allocations
/// are byte arrays that <see cref="Export"/> names with a random 64-byte handle, as
/// cudaIpcGetMemHandle would. Opening an unknown handle fails the way the driver does (with a
/// driver-style message that must never reach a client); copies check their range against the
/// allocation, and a freed allocation fails its copies.
/// </summary>
/// <remarks>Thread-safe: the table under one lock, each allocation's bytes under its own.</remarks>
internal sealed class SimulatedCudaSharedMemory(int deviceCount = 1) : ICudaSharedMemory
{
    /// <summary>What a refused handle's exception says: the driver's words, for the server log.</summary>
    public const string DriverMessage = "cuIpcOpenMemHandle failed: invalid argument (CUDA error 1)";

    private readonly Lock _lock = new();
    private readonly Dictionary<(int Device, string Handle), Allocation> _exported = [];
    private int _open;

    public int DeviceCount => deviceCount;

    /// <summary>Mappings opened and not yet closed.</summary>
    public int OpenMappings => Volatile.Read(ref _open);

    /// <summary>Exports <paramref name="memory"/> (the allocation, shared, not copied) on
    /// <paramref name="device"/>; returns its handle.</summary>
    public byte[] Export(int device, byte[] memory)
    {
        var handle = RandomNumberGenerator.GetBytes(64);
        lock (_lock)
        {
            _exported.Add((device, Convert.ToHexString(handle)), new Allocation(memory));
        }
        return handle;
    }

    /// <summary>The exporting process frees the allocation: copies from open mappings fail from now on.</summary>
    public void Free(int device, byte[] handle)
    {
        lock (_lock)
        {
            if (_exported.Remove((device, Convert.ToHexString(handle)), out var allocation))
            {
                allocation.Freed = true;
            }
        }
    }

    public ICudaIpcMemory Open(int deviceId, ReadOnlySpan<byte> rawHandle)
    {
        Allocation? allocation;
        lock (_lock)
        {
            _exported.TryGetValue((deviceId, Convert.ToHexString(rawHandle)), out allocation);
        }
        if (allocation is null)
        {
            throw new InvalidOperationException(DriverMessage);
        }
        Interlocked.Increment(ref _open);
        return new Mapping(this, allocation);
    }

    private sealed class Allocation(byte[] memory)
    {
        public byte[] Memory { get; } = memory;

        public volatile bool Freed;
    }

    private sealed class Mapping(SimulatedCudaSharedMemory owner, Allocation allocation) : ICudaIpcMemory
    {
        private int _closed;

        public long Length => allocation.Memory.Length;

        public void CopyToHost(long offset, Span<byte> destination)
        {
            lock (allocation)
            {
                Check(offset, destination.Length);
                allocation.Memory.AsSpan((int)offset, destination.Length).CopyTo(destination);
            }
        }

        public void CopyFromHost(long offset, ReadOnlySpan<byte> source)
        {
            lock (allocation)
            {
                Check(offset, source.Length);
                source.CopyTo(allocation.Memory.AsSpan((int)offset));
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                Interlocked.Decrement(ref owner._open);
            }
        }

        private void Check(long offset, int length)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed) == 1, this);
            if (allocation.Freed)
            {
                throw new InvalidOperationException("cuMemcpyDtoH failed: an illegal memory access was encountered (CUDA error 700)");
            }
            if (offset < 0 || offset > Length || length > Length - offset)
            {
                throw new ArgumentOutOfRangeException(nameof(offset), $"{length} bytes from {offset} reach past the {Length}-byte allocation");
            }
        }
    }
}
