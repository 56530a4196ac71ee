using System.Net;
using Fabrik.Errors;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>The registry as one request's client sees it: its address decides whether it may use
/// regions at all. A decoder without a registry (the in-process benchmarks) refuses regions.</summary>
internal readonly record struct SharedMemoryClient(SharedMemoryRegistry? Registry, IPAddress? Remote)
{
    /// <summary>Leases region <paramref name="region"/> for tensor <paramref name="tensor"/>.</summary>
    /// <exception cref="InferenceException">PermissionDenied, or InvalidArgument for an unknown region.</exception>
    public SharedMemoryRegion Lease(string region, string tensor) =>
        (Registry ?? throw InferenceException.PermissionDenied("shared memory is turned off on this server; start it with --allow-shared-memory=true to use it"))
            .Lease(region, tensor, Remote);
}
