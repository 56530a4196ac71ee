using System.Runtime.InteropServices;
using Fabrik.Caching;
using Fabrik.Inference;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Caching;

/// <summary>
/// The cache's own rules on hand-made keys and responses: copies out, size accounting against the
/// layout written out in <see cref="EntrySize"/>, least-recently-used eviction, responses too large
/// to store, hash collisions, clearing on removal and per-version removal. The server-level
/// behaviour (what a client sees) is in <see cref="ResponseCacheServerTests"/>.
/// </summary>
public sealed class ResponseCacheTests : IDisposable
{
    private readonly TensorMemoryPool _pool = new();
    private readonly object _owner = new();

    /// <summary>An entry's bytes as docs/response-cache.md states them: the key, 4 bytes of output
    /// count, and per output 20 bytes of header, 8 per dimension and its data.</summary>
    private static long EntrySize(int keyLength, params (int Rank, int DataBytes)[] outputs) =>
        keyLength + 4 + outputs.Sum(output => 20 + 8L * output.Rank + output.DataBytes);

    [Fact]
    public void Hit_IsACopyOfTheStoredOutputs_InItsOwnBuffers()
    {
        var cache = new ResponseCache(1 << 20, clearRemoved: true);
        using var key = Key(1);
        using (var stored = Response(1.5f, -2f, 3.25f, 4f))
        {
            Assert.True(cache.TryAdd(key, stored, _owner));
        }

        using var hit = cache.TryGet(key, _pool);

        Assert.NotNull(hit);
        var output = Assert.Single(hit.Outputs);
        Assert.Equal(DataType.Fp32, output.DataType);
        Assert.Equal([1L, 4L], output.Shape);
        Assert.Equal(4, output.ElementCount);
        Assert.Equal([1.5f, -2f, 3.25f, 4f], output.As<float>().ToArray());
    }

    [Fact]
    public void Miss_ReturnsNullAndCountsIt()
    {
        var cache = new ResponseCache(1 << 20, clearRemoved: true);
        using var stored = Key(1);
        using var other = Key(2);
        using (var response = Response(1f))
        {
            cache.TryAdd(stored, response, _owner);
        }

        Assert.Null(cache.TryGet(other, _pool));
        var counters = cache.Counters;
        Assert.Equal((1L, 0L, 1L), (counters.Lookups, counters.Hits, counters.Misses));
    }

    [Fact]
    public void Size_IsTheSumOfKeysAndOutputLayouts_Exactly()
    {
        var cache = new ResponseCache(1 << 20, clearRemoved: true);
        using var a = Key(1, length: 40);
        using var b = Key(2, length: 77);
        using var c = Key(3, length: 5);
        using (var one = Response(1f, 2f, 3f, 4f))
        using (var two = Response(1f))
        using (var three = BytesResponse("ab", "", "cde"))
        {
            cache.TryAdd(a, one, _owner);
            cache.TryAdd(b, two, _owner);
            cache.TryAdd(c, three, _owner);
        }

        // BYTES data: a 4-byte length before each element.
        var expected = EntrySize(40, (2, 16)) + EntrySize(77, (2, 4)) + EntrySize(5, (1, 4 + 2 + 4 + 0 + 4 + 3));
        var counters = cache.Counters;
        Assert.Equal(3, counters.Entries);
        Assert.Equal(expected, counters.UsedBytes);
        Assert.Equal((double)expected / (1 << 20), counters.Utilization, 12);
    }

    [Fact]
    public void Eviction_TakesTheLeastRecentlyUsedFirst()
    {
        var entry = EntrySize(32, (2, 4));
        var cache = new ResponseCache(2 * entry + entry / 2, clearRemoved: true);
        using var a = Key(1);
        using var b = Key(2);
        using var c = Key(3);
        Add(cache, a, 1f);
        Add(cache, b, 2f);
        using (cache.TryGet(a, _pool))
        {
            // a is now the most recently used: b is the oldest.
        }
        Add(cache, c, 3f);

        using var fromA = cache.TryGet(a, _pool);
        using var fromB = cache.TryGet(b, _pool);
        using var fromC = cache.TryGet(c, _pool);
        Assert.Equal(1f, fromA!.Outputs[0].As<float>()[0]);
        Assert.Null(fromB);
        Assert.Equal(3f, fromC!.Outputs[0].As<float>()[0]);
        var counters = cache.Counters;
        Assert.Equal((2L, 1L, 2 * entry), (counters.Entries, counters.Evictions, counters.UsedBytes));
    }

    [Fact]
    public void Eviction_FreesAsManyEntriesAsTheNewOneNeeds()
    {
        var small = EntrySize(32, (2, 4));
        var cache = new ResponseCache(3 * small, clearRemoved: true);
        using var a = Key(1);
        using var b = Key(2);
        using var c = Key(3);
        using var large = Key(4);
        Add(cache, a, 1f);
        Add(cache, b, 2f);
        Add(cache, c, 3f);

        // Needs room for 1 + 3/4 small entries: a and b go, c stays.
        Add(cache, large, [.. Enumerable.Repeat(9f, 5)]);

        Assert.Null(cache.TryGet(a, _pool));
        Assert.Null(cache.TryGet(b, _pool));
        using var fromC = cache.TryGet(c, _pool);
        Assert.NotNull(fromC);
        Assert.Equal(small + EntrySize(32, (2, 20)), cache.Counters.UsedBytes);
    }

    [Fact]
    public void TooLargeForTheCache_IsNotStored()
    {
        var cache = new ResponseCache(EntrySize(32, (2, 16)) - 1, clearRemoved: true);
        using var key = Key(1);
        using (var response = Response(1f, 2f, 3f, 4f))
        {
            Assert.False(cache.TryAdd(key, response, _owner));
        }

        Assert.Null(cache.TryGet(key, _pool));
        Assert.Equal((0L, 0L), (cache.Counters.Entries, cache.Counters.UsedBytes));
    }

    [Fact]
    public void HashCollision_NeverServesAnotherKeysAnswer()
    {
        var cache = new ResponseCache(1 << 20, clearRemoved: true);
        var sameHash = (UInt128)42;
        using var first = Key(1, hash: sameHash);
        using var second = Key(2, hash: sameHash);
        Add(cache, first, 1f);

        Assert.Null(cache.TryGet(second, _pool));

        // The newer answer takes the slot; the first key then misses rather than get it.
        Add(cache, second, 2f);
        Assert.Null(cache.TryGet(first, _pool));
        using var hit = cache.TryGet(second, _pool);
        Assert.Equal(2f, hit!.Outputs[0].As<float>()[0]);
        Assert.Equal(1, cache.Counters.Entries);
        Assert.Equal(EntrySize(32, (2, 4)), cache.Counters.UsedBytes);
    }

    [Fact]
    public void SameKeyStoredTwice_KeepsOneEntry()
    {
        var cache = new ResponseCache(1 << 20, clearRemoved: true);
        using var key = Key(1);
        Add(cache, key, 1f);
        Add(cache, key, 1f);

        Assert.Equal((1L, EntrySize(32, (2, 4))), (cache.Counters.Entries, cache.Counters.UsedBytes));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RemovedEntries_AreZeroedWithClearBuffers(bool clear)
    {
        var arrays = new List<byte[]>();
        var entry = EntrySize(32, (2, 4));
        var cache = new ResponseCache(entry, clear, length =>
        {
            var array = new byte[length];
            arrays.Add(array);
            return array;
        });
        using var a = Key(0xAA);
        using var b = Key(0xBB);
        Add(cache, a, 7f);
        Add(cache, b, 8f); // evicts a

        Assert.Equal(2, arrays.Count);
        Assert.Equal(clear, arrays[0].All(value => value == 0));
        Assert.DoesNotContain(arrays[1], value => value == 0xAA);
    }

    [Fact]
    public void RemoveAll_DropsOnlyThatOwnersEntries()
    {
        var cache = new ResponseCache(1 << 20, clearRemoved: true);
        var other = new object();
        using var mine = Key(1);
        using var theirs = Key(2);
        Add(cache, mine, 1f);
        using (var response = Response(2f))
        {
            cache.TryAdd(theirs, response, other);
        }

        cache.RemoveAll(_owner);

        Assert.Null(cache.TryGet(mine, _pool));
        using var kept = cache.TryGet(theirs, _pool);
        Assert.NotNull(kept);
        Assert.Equal((1L, EntrySize(32, (2, 4))), (cache.Counters.Entries, cache.Counters.UsedBytes));
    }

    public void Dispose() => PoolLeaks.AssertNoneOutstanding(_pool);

    private void Add(ResponseCache cache, in CacheKey key, params float[] values)
    {
        using var response = Response(values);
        Assert.True(cache.TryAdd(key, response, _owner));
    }

    private CacheKey Key(byte fill, int length = 32, UInt128? hash = null)
    {
        var array = _pool.Rent(length);
        array.AsSpan(0, length).Fill(fill);
        return new CacheKey(_pool, array, length, hash);
    }

    private InferenceResponse Response(params float[] values)
    {
        var buffer = new TensorBuffer(_pool, DataType.Fp32, [1, values.Length], values.Length, values.Length * sizeof(float));
        MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(buffer.Bytes);
        return new InferenceResponse([buffer]);
    }

    private InferenceResponse BytesResponse(params string[] elements)
    {
        var data = elements.SelectMany(element => BitConverter.GetBytes(element.Length).Concat(System.Text.Encoding.UTF8.GetBytes(element))).ToArray();
        var buffer = new TensorBuffer(_pool, DataType.Bytes, [elements.Length], elements.Length, data.Length);
        data.CopyTo(buffer.Bytes);
        return new InferenceResponse([buffer]);
    }
}
