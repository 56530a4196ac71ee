using System.Buffers.Binary;
using System.Security.Cryptography;
using Fabrik.Tensors;

namespace Fabrik.Caching;

/// <summary>
/// The bytes that identify one request to the response cache (written by <see cref="CacheKeyWriter"/>)
/// and their SHA-256 hash, truncated to 128 bits. The hash only finds the slot: a hit also compares
/// every byte of the key, so two requests whose hashes collide never share an answer.
/// </summary>
/// <remarks>Ownership: the key's array is rented from the tensor pool (so it counts against
/// --pinned-memory-pool-byte-size and is cleared per --clear-buffers: it holds input data); the
/// holder disposes the key once, which returns the array. <c>default</c> is "no key": the request
/// is not cached.</remarks>
internal readonly struct CacheKey : IDisposable
{
    private readonly TensorMemoryPool? _pool;
    private readonly byte[]? _array;

    /// <summary>Takes ownership of <paramref name="array"/>, rented from <paramref name="pool"/>,
    /// whose first <paramref name="length"/> bytes are the key; hashes them unless
    /// <paramref name="hash"/> is given (tests force collisions so).</summary>
    public CacheKey(TensorMemoryPool pool, byte[] array, int length, UInt128? hash = null)
    {
        _pool = pool;
        _array = array;
        Length = length;
        Hash = hash ?? HashOf(array.AsSpan(0, length));
    }

    /// <summary>Key bytes.</summary>
    public int Length { get; }

    public UInt128 Hash { get; }

    /// <summary>False for <c>default</c>: no key, the request is not cached.</summary>
    public bool IsValid => _array is not null;

    public ReadOnlySpan<byte> Bytes => _array is null ? default : _array.AsSpan(0, Length);

    public static UInt128 HashOf(ReadOnlySpan<byte> key)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(key, digest);
        return BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }

    public void Dispose()
    {
        if (_array is not null)
        {
            _pool!.Return(_array, Length);
        }
    }
}
