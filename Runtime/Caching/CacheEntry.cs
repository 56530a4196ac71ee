namespace Fabrik.Caching;

/// <summary>
/// One cached response: its key and its outputs in a single array (see <see cref="ResponseLayout"/>),
/// so that what the entry takes is exactly <see cref="Data"/>'s length, and clearing it clears all
/// of it. Owned by <see cref="ResponseCache"/>; every member but the immutable ones is read and
/// written only under the cache's lock.
/// </summary>
internal sealed class CacheEntry(UInt128 hash, byte[] data, int keyLength, object owner)
{
    /// <summary>The key's hash: where the entry sits in the cache's table.</summary>
    public UInt128 Hash { get; } = hash;

    /// <summary>The key's bytes, then the outputs.</summary>
    public byte[] Data { get; } = data;

    public int KeyLength { get; } = keyLength;

    /// <summary>The model version that stored it; its entries go when it is unloaded.</summary>
    public object Owner { get; } = owner;

    public ReadOnlySpan<byte> Key => Data.AsSpan(0, KeyLength);

    public ReadOnlySpan<byte> Outputs => Data.AsSpan(KeyLength);

    /// <summary>The next entry towards the most recently used end of the list (null at that end).</summary>
    public CacheEntry? Newer { get; set; }

    /// <summary>The next entry towards the least recently used end (null at that end).</summary>
    public CacheEntry? Older { get; set; }
}
