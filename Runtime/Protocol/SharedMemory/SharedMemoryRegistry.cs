using System.Net;
using Fabrik.Errors;
using Fabrik.Native.SharedMemory;
using Fabrik.Security;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// The registered shared-memory regions, one namespace for system and CUDA regions as Triton has.
/// Every call first checks that the extension is on (<c>--allow-shared-memory</c>) and that the
/// client is local; both protocols' register, status and unregister calls and the tensor decoders
/// come through here. Registrations and unregistrations, refused or not, go to the audit log.
/// </summary>
/// <remarks>Thread-safe: the table and the byte total change under one lock; a region's data moves
/// outside it, under a lease (<see cref="SharedMemoryRegion"/>).</remarks>
internal sealed partial class SharedMemoryRegistry(SharedMemorySettings settings, AuditLog audit, ICudaSharedMemory cuda, ILogger<SharedMemoryRegistry> logger) : IDisposable
{
    /// <summary>Where the access checks leave the caller's key id for the shared-memory calls
    /// (HttpContext.Items), so that the audit names who registered a region.</summary>
    public const string CallerItem = "fabrik.shared-memory.caller";

    /// <summary>Longest region name accepted.</summary>
    public const int MaxNameLength = 256;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, SharedMemoryRegion> _regions = new(StringComparer.Ordinal);
    private long _totalBytes;

    /// <summary>Whether --allow-shared-memory turned the extensions on.</summary>
    public bool Allowed => settings.Allowed;

    /// <summary>Whether a client at <paramref name="remote"/> counts as local: loopback, or no IP
    /// peer at all (the in-process host).</summary>
    public static bool IsLocal(IPAddress? remote) =>
        remote is null || IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote);

    /// <summary>Refuses a client when the extension is off or the client is not local.</summary>
    /// <exception cref="InferenceException">PermissionDenied naming the flag or the rule.</exception>
    public void CheckAccess(IPAddress? remote)
    {
        if (!settings.Allowed)
        {
            throw InferenceException.PermissionDenied("shared memory is turned off on this server; start it with --allow-shared-memory=true to use it");
        }
        if (!IsLocal(remote))
        {
            throw InferenceException.PermissionDenied("shared memory is served only to clients on the server's own host (loopback)");
        }
    }

    /// <summary><see cref="CheckAccess"/> for a registration, whose refusal is audited: the HTTP
    /// endpoints call it before they read the body.</summary>
    public void CheckRegistration(string name, IPAddress? remote, string? caller) =>
        CheckAccessAudited("shared-memory-register-refused", $"register shared memory region '{AuditLog.Truncate(name)}'", remote, caller);

    /// <summary>Registers system shared-memory region <paramref name="name"/>.</summary>
    /// <exception cref="InferenceException">Refused; the message says why, in the client's terms.</exception>
    public void Register(string name, string key, ulong offset, ulong byteSize, IPAddress? remote, string? caller)
    {
        var what = $"register system shared memory region '{AuditLog.Truncate(name)}'";
        try
        {
            CheckAccess(remote);
            CheckName(name);
            var fileName = SharedMemoryKey.FileName(key);
            if (byteSize == 0)
            {
                throw InferenceException.InvalidArgument("byte_size of a shared memory region must be positive");
            }
            if (offset > long.MaxValue || byteSize > long.MaxValue || offset > (ulong)long.MaxValue - byteSize)
            {
                throw InferenceException.InvalidArgument($"offset {offset} + byte_size {byteSize} of shared memory region '{name}' overflows");
            }
            Add(Open(name, key, fileName, (long)offset, (long)byteSize));
            audit.Write("shared-memory-register", ("kind", "system"), ("name", name), ("key", key), ("offset", (long)offset),
                ("byte_size", (long)byteSize), ("caller", caller), ("client", remote?.ToString()));
        }
        catch (InferenceException e)
        {
            AuditRefusal("shared-memory-register-refused", what, e, remote, caller);
            throw;
        }
    }

    /// <summary>The size of a CUDA IPC handle (CUipcMemHandle).</summary>
    public const int CudaIpcHandleSize = 64;

    /// <summary>Registers CUDA shared-memory region <paramref name="name"/>: the first
    /// <paramref name="byteSize"/> bytes of the device allocation that <paramref name="rawHandle"/>
    /// (a CUDA IPC handle from another process) names on device <paramref name="deviceId"/>.</summary>
    /// <exception cref="InferenceException">Refused: PermissionDenied, InvalidArgument, or
    /// Unavailable where the server has no CUDA device.</exception>
    public void RegisterCuda(string name, ReadOnlySpan<byte> rawHandle, long deviceId, ulong byteSize, IPAddress? remote, string? caller)
    {
        try
        {
            CheckAccess(remote);
            CheckName(name);
            if (cuda.DeviceCount == 0)
            {
                throw InferenceException.Unavailable("CUDA shared memory needs a CUDA device, and this server has none");
            }
            if (deviceId < 0 || deviceId >= cuda.DeviceCount)
            {
                throw InferenceException.InvalidArgument($"device_id {deviceId} is not a CUDA device of this server (0 to {cuda.DeviceCount - 1})");
            }
            if (rawHandle.Length != CudaIpcHandleSize)
            {
                throw InferenceException.InvalidArgument($"raw_handle must be the {CudaIpcHandleSize} bytes of a CUDA IPC handle (cudaIpcGetMemHandle), not {rawHandle.Length}");
            }
            if (byteSize is 0 or > long.MaxValue)
            {
                throw InferenceException.InvalidArgument($"byte_size {byteSize} of a CUDA shared memory region must be positive and fit 63 bits");
            }
            lock (_lock)
            {
                // Refused here before the handle is opened; checked again when the region is added.
                CheckLimits(name, (long)byteSize);
            }
            Add(OpenCuda(name, rawHandle, (int)deviceId, (long)byteSize));
            audit.Write("shared-memory-register", ("kind", "cuda"), ("name", name), ("device_id", deviceId), ("byte_size", (long)byteSize),
                ("caller", caller), ("client", remote?.ToString()));
        }
        catch (InferenceException e)
        {
            AuditRefusal("shared-memory-register-refused", $"register CUDA shared memory region '{AuditLog.Truncate(name)}'", e, remote, caller);
            throw;
        }
    }

    /// <summary>Unregisters system region <paramref name="name"/>, or every system region when it is
    /// empty. An unknown name is not an error (Triton's answer). Requests holding a lease finish first.</summary>
    /// <exception cref="InferenceException">PermissionDenied.</exception>
    public void Unregister(string name, IPAddress? remote, string? caller) => Unregister<SystemSharedMemoryRegion>(name, remote, caller);

    /// <summary><see cref="Unregister"/> for CUDA regions.</summary>
    public void UnregisterCuda(string name, IPAddress? remote, string? caller) => Unregister<CudaSharedMemoryRegion>(name, remote, caller);

    /// <summary>The registered system regions, or the one named.</summary>
    /// <exception cref="InferenceException">NotFound for an unknown name.</exception>
    public IReadOnlyList<SystemSharedMemoryRegion> Status(string name, IPAddress? remote) => StatusOf<SystemSharedMemoryRegion>(name, remote);

    /// <summary>The registered CUDA regions, or the one named.</summary>
    /// <exception cref="InferenceException">NotFound for an unknown name.</exception>
    public IReadOnlyList<CudaSharedMemoryRegion> CudaStatus(string name, IPAddress? remote) => StatusOf<CudaSharedMemoryRegion>(name, remote);

    /// <summary>Leases region <paramref name="name"/> for one tensor; release it when done.</summary>
    /// <exception cref="InferenceException">PermissionDenied, or InvalidArgument for an unknown region.</exception>
    public SharedMemoryRegion Lease(string name, string tensor, IPAddress? remote)
    {
        CheckAccess(remote);
        SharedMemoryRegion? region;
        lock (_lock)
        {
            _regions.TryGetValue(name, out region);
        }
        // A region unregistered between the look-up and the lease is as good as unknown.
        return region is not null && region.TryAcquire()
            ? region
            : throw InferenceException.InvalidArgument($"tensor '{tensor}': no shared memory region named '{name}' is registered");
    }

    /// <summary>At shutdown: gives up every registration (requests still copying finish first).</summary>
    public void Dispose()
    {
        List<SharedMemoryRegion> regions;
        lock (_lock)
        {
            regions = [.. _regions.Values];
            _regions.Clear();
            _totalBytes = 0;
        }
        foreach (var region in regions)
        {
            region.Release();
        }
    }

    private IReadOnlyList<T> StatusOf<T>(string name, IPAddress? remote)
        where T : SharedMemoryRegion
    {
        CheckAccess(remote);
        lock (_lock)
        {
            if (name.Length == 0)
            {
                return [.. _regions.Values.OfType<T>().OrderBy(region => region.Name, StringComparer.Ordinal)];
            }
            return _regions.TryGetValue(name, out var region) && region is T found
                ? [found]
                : throw InferenceException.NotFound($"no {KindName<T>()} shared memory region named '{name}' is registered");
        }
    }

    private void Unregister<T>(string name, IPAddress? remote, string? caller)
        where T : SharedMemoryRegion
    {
        CheckAccessAudited("shared-memory-unregister-refused", $"unregister {KindName<T>()} shared memory region '{AuditLog.Truncate(name)}'", remote, caller);
        List<SharedMemoryRegion> removed = [];
        lock (_lock)
        {
            if (name.Length == 0)
            {
                removed.AddRange(_regions.Values.OfType<T>());
            }
            else if (_regions.TryGetValue(name, out var region) && region is T)
            {
                // A name of the other kind is left alone, as an unknown one is (Triton's answer).
                removed.Add(region);
            }
            foreach (var region in removed)
            {
                _regions.Remove(region.Name);
                _totalBytes -= region.ByteSize;
            }
        }
        foreach (var region in removed)
        {
            region.Release();
            audit.Write("shared-memory-unregister", ("kind", region.Kind), ("name", region.Name), ("key", (region as SystemSharedMemoryRegion)?.Key), ("caller", caller), ("client", remote?.ToString()));
        }
    }

    private static string KindName<T>() => typeof(T) == typeof(CudaSharedMemoryRegion) ? "CUDA" : "system";

    /// <summary>Adds an opened region, or releases it when the name was taken or the limits filled
    /// meanwhile.</summary>
    private void Add(SharedMemoryRegion region)
    {
        lock (_lock)
        {
            try
            {
                CheckLimits(region.Name, region.ByteSize);
            }
            catch
            {
                region.Release();
                throw;
            }
            _regions.Add(region.Name, region);
            _totalBytes += region.ByteSize;
        }
    }

    private CudaSharedMemoryRegion OpenCuda(string name, ReadOnlySpan<byte> rawHandle, int deviceId, long byteSize)
    {
        ICudaIpcMemory memory;
        try
        {
            memory = cuda.Open(deviceId, rawHandle);
        }
        catch (Exception e)
        {
            // The driver's words go to the log; the client hears what to check.
            LogCudaOpenFailed(name, deviceId, e.Message);
            throw InferenceException.InvalidArgument(
                $"raw_handle of CUDA shared memory region '{name}' could not be opened on device {deviceId}: it must come from cudaIpcGetMemHandle in another process on this host, for memory on that device that is still allocated");
        }
        if (memory.Length < byteSize)
        {
            memory.Dispose();
            throw InferenceException.InvalidArgument(
                $"the device allocation behind CUDA shared memory region '{name}' holds {memory.Length} bytes, fewer than byte_size {byteSize}");
        }
        return new CudaSharedMemoryRegion(name, deviceId, byteSize, memory, logger);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "CUDA shared memory region '{Name}' on device {Device}: the IPC handle could not be opened: {Reason}")]
    private partial void LogCudaOpenFailed(string name, int device, string reason);

    private SystemSharedMemoryRegion Open(string name, string key, string fileName, long offset, long byteSize)
    {
        var result = SharedMemoryObject.Open(fileName, out var opened);
        if (result != SharedMemoryOpenResult.Opened)
        {
            throw InferenceException.InvalidArgument(result switch
            {
                SharedMemoryOpenResult.NotFound => $"no shared memory object '{key}' exists; create it (shm_open) before registering it",
                SharedMemoryOpenResult.Link => $"shared memory key '{key}' names a symbolic link, which is never followed",
                SharedMemoryOpenResult.NotRegularFile => $"shared memory key '{key}' does not name a shared memory object",
                SharedMemoryOpenResult.OtherFileSystem => $"shared memory key '{key}' names something mounted over the shared memory directory",
                SharedMemoryOpenResult.Denied => $"the server may not open shared memory object '{key}'",
                SharedMemoryOpenResult.Unsupported => "system shared memory is not supported on this platform",
                _ => $"shared memory object '{key}' could not be opened",
            });
        }
        var owner = settings.OwnerId ?? SharedMemoryObject.EffectiveUserId;
        try
        {
            if (opened!.OwnerId != owner)
            {
                throw InferenceException.InvalidArgument($"shared memory object '{key}' belongs to another user than the one this server accepts regions from");
            }
            var size = opened.CurrentSize();
            if (size < offset + byteSize)
            {
                throw InferenceException.InvalidArgument($"shared memory object '{key}' holds {size} bytes, fewer than offset {offset} + byte_size {byteSize}");
            }
            return new SystemSharedMemoryRegion(name, key, offset, byteSize, opened);
        }
        catch
        {
            opened!.Dispose();
            throw;
        }
    }

    /// <summary>Under the lock: the name is free and the limits leave room.</summary>
    private void CheckLimits(string name, long byteSize)
    {
        if (_regions.ContainsKey(name))
        {
            throw InferenceException.InvalidArgument($"a shared memory region named '{name}' is already registered; unregister it first");
        }
        if (_regions.Count >= settings.MaxRegions)
        {
            throw InferenceException.InvalidArgument($"the server already holds {settings.MaxRegions} shared memory regions, its limit (--shared-memory-max-regions); unregister one first");
        }
        if (byteSize > settings.MaxTotalBytes - _totalBytes)
        {
            throw InferenceException.InvalidArgument(
                $"registering {byteSize} more bytes would take the shared memory regions past {settings.MaxTotalBytes} bytes together (--shared-memory-max-bytes)");
        }
    }

    private void CheckAccessAudited(string eventName, string what, IPAddress? remote, string? caller)
    {
        try
        {
            CheckAccess(remote);
        }
        catch (InferenceException e)
        {
            AuditRefusal(eventName, what, e, remote, caller);
            throw;
        }
    }

    private void AuditRefusal(string eventName, string what, InferenceException refusal, IPAddress? remote, string? caller) =>
        audit.WriteRefusal(eventName, remote?.ToString() ?? "local", what, ("reason", refusal.Message), ("caller", caller));

    private static void CheckName(string name)
    {
        if (name.Length is 0 or > MaxNameLength || name.Any(char.IsControl))
        {
            throw InferenceException.InvalidArgument($"a shared memory region name must be 1 to {MaxNameLength} printable characters");
        }
    }
}
