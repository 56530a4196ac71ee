namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// The shared-memory extensions' flags: off unless <c>--allow-shared-memory=true</c> (Triton's
/// <c>--allow-client-shm</c> is the same flag), and then bounded in the number of regions and the
/// bytes they span together.
/// </summary>
internal sealed record SharedMemorySettings
{
    /// <summary>--allow-shared-memory: register, status, unregister and tensors in regions. Default: false.</summary>
    public bool Allowed { get; init; }

    /// <summary>--shared-memory-max-regions: regions registered at once (system and CUDA together).</summary>
    public int MaxRegions { get; init; } = 64;

    /// <summary>--shared-memory-max-bytes: the byte sizes of all registered regions added up.</summary>
    public long MaxTotalBytes { get; init; } = 16L << 30;

    /// <summary>--shared-memory-owner-uid: the user that must own a region's object; null for the
    /// server's own effective user.</summary>
    public uint? OwnerId { get; init; }
}
