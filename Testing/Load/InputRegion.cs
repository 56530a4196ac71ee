using Fabrik.Client;
using Fabrik.Native.Cuda;

namespace Fabrik.Testing.Load;

/// <summary>
/// The load generator's inputs placed once in a shared-memory region that every request names:
/// a POSIX object in /dev/shm (system) or device memory on CUDA device 0 exported with its IPC
/// handle (cuda). The inputs are only read, so the workers share it. Disposing unregisters the
/// region and frees what holds it.
/// </summary>
internal sealed class InputRegion : IDisposable
{
    private readonly FabrikClient _client;
    private readonly LoadSharedMemory _kind;
    private readonly IDisposable[] _owned;

    private InputRegion(FabrikClient client, LoadSharedMemory kind, string name, params IDisposable[] owned)
    {
        _client = client;
        _kind = kind;
        Name = name;
        _owned = owned;
    }

    /// <summary>The region's name, which the requests' inputs carry.</summary>
    public string Name { get; }

    /// <summary>Places <paramref name="inputs"/> one after another in a new region of
    /// <paramref name="kind"/> and registers it; returns it with each input's offset.</summary>
    /// <exception cref="Native.NativeException">cuda, and this host has no CUDA device or driver.</exception>
    public static async Task<(InputRegion Region, long[] Offsets)> CreateAsync(
        FabrikClient client, LoadSharedMemory kind, IReadOnlyList<byte[]> inputs, CancellationToken cancellation)
    {
        var name = $"fabrik-load-{Environment.ProcessId}-{Guid.NewGuid():N}";
        var offsets = new long[inputs.Count];
        var packed = new byte[Math.Max(1, inputs.Sum(input => (long)input.Length))];
        long offset = 0;
        for (var i = 0; i < inputs.Count; i++)
        {
            offsets[i] = offset;
            inputs[i].CopyTo(packed, offset);
            offset += inputs[i].Length;
        }
        if (kind == LoadSharedMemory.System)
        {
            var memory = LocalSharedMemory.Create("/" + name, packed.Length);
            try
            {
                memory.Write(0, packed);
                await client.RegisterSystemSharedMemoryAsync(name, memory.Key, memory.ByteSize, cancellationToken: cancellation);
                return (new InputRegion(client, kind, name, memory), offsets);
            }
            catch
            {
                memory.Dispose();
                throw;
            }
        }
        var context = CudaContext.Retain(0);
        DeviceMemory? device = null;
        try
        {
            device = context.AllocateDevice(packed.Length);
            device.CopyFromHost(packed);
            await client.RegisterCudaSharedMemoryAsync(name, device.ExportIpcHandle().ToArray(), deviceId: 0, byteSize: packed.Length, cancellation);
            return (new InputRegion(client, kind, name, device, context), offsets);
        }
        catch
        {
            device?.Dispose();
            context.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        try
        {
            (_kind == LoadSharedMemory.Cuda ? _client.UnregisterCudaSharedMemoryAsync(Name) : _client.UnregisterSystemSharedMemoryAsync(Name)).GetAwaiter().GetResult();
        }
        catch (FabrikException)
        {
            // The server has gone: nothing of the region is left there.
        }
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }
}
