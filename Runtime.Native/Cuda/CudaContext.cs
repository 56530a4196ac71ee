using System.Runtime.InteropServices;

namespace Fabrik.Native.Cuda;

/// <summary>
/// The primary context of one CUDA device, retained for as long as this handle lives: the context
/// ONNX Runtime's CUDA runtime calls use on that device, so streams, events and memory made here
/// are shared with its sessions. Streams, events and buffers are made through it and keep it alive
/// until they are released themselves (<see cref="CudaResource"/>).
/// </summary>
/// <remarks>Thread-safe: every call makes the context current on the calling thread for its own
/// duration (<see cref="Enter"/>) and leaves the thread as it found it.</remarks>
public sealed class CudaContext : SafeHandle
{
    private readonly int _device;

    private CudaContext(int device, int ordinal)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        _device = device;
        Ordinal = ordinal;
    }

    /// <summary>The CUDA ordinal this process sees the device as.</summary>
    public int Ordinal { get; }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Retains the primary context of CUDA device <paramref name="ordinal"/>.</summary>
    /// <exception cref="NativeException">There is no CUDA driver, or it refused (its message included).</exception>
    public static CudaContext Retain(int ordinal)
    {
        if (!NativeLibrary.TryLoad(NativeMethods.Library, out var library))
        {
            throw new NativeException($"no CUDA driver: {NativeMethods.Library} could not be loaded");
        }
        NativeLibrary.Free(library);
        CudaResult.Check(NativeMethods.Init(0), "cuInit");
        CudaResult.Check(NativeMethods.DeviceGet(out var device, ordinal), "cuDeviceGet");
        CudaResult.Check(NativeMethods.DevicePrimaryCtxRetain(out var context, device), "cuDevicePrimaryCtxRetain");
        var retained = new CudaContext(device, ordinal);
        retained.SetHandle(context);
        return retained;
    }

    /// <summary>Makes the context current on this thread until the scope is disposed.</summary>
    public CudaContextScope Enter()
    {
        CudaResult.Check(NativeMethods.CtxPushCurrent(handle), "cuCtxPushCurrent");
        return new CudaContextScope();
    }

    /// <summary>A stream that does not synchronise with the legacy default stream.</summary>
    public CudaStream CreateStream()
    {
        using var scope = Enter();
        CudaResult.Check(NativeMethods.StreamCreate(out var stream, NativeMethods.StreamNonBlocking), "cuStreamCreate");
        return new CudaStream(this, stream);
    }

    /// <summary>An event whose waiters sleep rather than spin.</summary>
    public CudaEvent CreateEvent()
    {
        using var scope = Enter();
        CudaResult.Check(NativeMethods.EventCreate(out var cudaEvent, NativeMethods.EventBlockingSyncWithoutTiming), "cuEventCreate");
        return new CudaEvent(this, cudaEvent);
    }

    /// <summary>Page-locked host memory of <paramref name="bytes"/> bytes (cuMemHostAlloc), which
    /// the device reads and writes by DMA, so copies to and from it run asynchronously.</summary>
    public PinnedHostMemory AllocatePinned(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        using var scope = Enter();
        CudaResult.Check(NativeMethods.MemHostAlloc(out var pointer, (nuint)bytes, NativeMethods.HostAllocPortable), "cuMemHostAlloc");
        return new PinnedHostMemory(this, pointer, bytes);
    }

    /// <summary>Device memory of <paramref name="bytes"/> bytes (cuMemAlloc).</summary>
    public DeviceMemory AllocateDevice(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        using var scope = Enter();
        CudaResult.Check(NativeMethods.MemAlloc(out var address, (nuint)bytes), "cuMemAlloc");
        return new DeviceMemory(this, address, bytes);
    }

    /// <summary>Opens another process's device allocation from its IPC handle. The handle must name
    /// memory on this context's device and come from another process (the driver's rules).</summary>
    /// <exception cref="NativeException">The driver refused the handle (its message included).</exception>
    public IpcDeviceMemory OpenIpcMemory(IpcMemHandle ipcHandle)
    {
        using var scope = Enter();
        CudaResult.Check(NativeMethods.IpcOpenMemHandle(out var address, ipcHandle, NativeMethods.IpcMemLazyEnablePeerAccess), "cuIpcOpenMemHandle");
        try
        {
            CudaResult.Check(NativeMethods.MemGetAddressRange(out var baseAddress, out var size, address), "cuMemGetAddressRange");
            var length = checked((long)(baseAddress + size - address));
            return new IpcDeviceMemory(this, address, length, CreateStream());
        }
        catch
        {
            NativeMethods.IpcCloseMemHandle(address);
            throw;
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => NativeMethods.DevicePrimaryCtxRelease(_device) == NativeMethods.Success;
}
