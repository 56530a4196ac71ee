using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Tensors;

public sealed class TensorMemoryPoolTests
{
    [Theory]
    [InlineData(0, 256)]
    [InlineData(256, 256)]
    [InlineData(257, 512)]
    [InlineData(1_000_000, 1 << 20)]
    public void Rent_RoundsUpToPowerOfTwo(long requested, int expectedLength)
    {
        var pool = new TensorMemoryPool();
        var array = pool.Rent(requested);
        Assert.Equal(expectedLength, array.Length);
        Assert.Equal(1, pool.Outstanding);
        pool.Return(array);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Rent_AfterReturn_ReusesTheSameArray()
    {
        var pool = new TensorMemoryPool();
        var first = pool.Rent(1000);
        pool.Return(first);
        Assert.Same(first, pool.Rent(1000));
    }

    [Fact]
    public void TensorBuffer_DisposedTwice_ReturnsOnce()
    {
        var pool = new TensorMemoryPool();
        var buffer = new TensorBuffer(pool, DataType.Fp32, [2, 2], 4, 16);
        buffer.Dispose();
        buffer.Dispose();
        Assert.Equal(0, pool.Outstanding);
    }

#if DEBUG
    [Fact]
    public void DescribeOutstanding_InDebug_NamesTheMethodThatRentedALeakedArray()
    {
        var pool = new TensorMemoryPool();
        var kept = pool.Rent(100);
        pool.Return(pool.Rent(100));

        var leak = Assert.Single(pool.DescribeOutstanding());
        Assert.Contains(nameof(DescribeOutstanding_InDebug_NamesTheMethodThatRentedALeakedArray), leak, StringComparison.Ordinal);
        pool.Return(kept);
        Assert.Empty(pool.DescribeOutstanding());
    }

    [Fact]
    public void Return_InDebug_RefusesAnArrayReturnedTwice()
    {
        var pool = new TensorMemoryPool();
        var array = pool.Rent(100);
        pool.Return(array);

        Assert.Throws<InvalidOperationException>(() => pool.Return(array));
        Assert.Equal(0, pool.Outstanding);
    }
#endif

    [Theory]
    [InlineData(1.0f, 0x3F80)]
    [InlineData(-2.5f, 0xC020)]
    [InlineData(1.00390625f, 0x3F80)] // halfway between 0x3F80 and 0x3F81: ties to even
    [InlineData(1.01171875f, 0x3F82)] // halfway between 0x3F81 and 0x3F82: ties to even
    public void BFloat16_FromSingle_RoundsToNearestEven(float value, int expected)
    {
        Assert.Equal((ushort)expected, BFloat16.FromSingle(value));
    }

    [Fact]
    public void Return_ClearsTheArray_UnlessTurnedOff()
    {
        var clearing = new TensorMemoryPool();
        var secret = clearing.Rent(1000);
        secret.AsSpan().Fill(0xA5);
        clearing.Return(secret);
        var reused = clearing.Rent(1000);
        Assert.Same(secret, reused);
        Assert.True(reused.AsSpan().IndexOfAnyExcept((byte)0) < 0, "a returned buffer kept its contents");
        clearing.Return(reused);

        var keeping = new TensorMemoryPool(clearOnReturn: false);
        var kept = keeping.Rent(1000);
        kept.AsSpan().Fill(0xA5);
        keeping.Return(kept);
        Assert.Equal(0xA5, keeping.Rent(1000)[999]);
    }

    [Fact]
    public void Return_OfAPartlyWrittenBuffer_LeavesTheWholeArrayZeroForTheNextRenter()
    {
        var pool = new TensorMemoryPool();
        var buffer = new TensorBuffer(pool, DataType.UInt8, [700], 700, 700);
        var array = buffer.Array;
        Assert.True(array.AsSpan().IndexOfAnyExcept((byte)0) < 0, "a new array must start zeroed: only written bytes are cleared later");
        buffer.Bytes.Fill(0xA5);
        buffer.SetByteLength(900); // a BYTES tensor that grew after it was rented
        buffer.Bytes[800..].Fill(0x5A);
        buffer.Dispose();

        var reused = pool.Rent(700);
        Assert.Same(array, reused);
        Assert.True(reused.AsSpan().IndexOfAnyExcept((byte)0) < 0, "a returned buffer kept some of its contents");
        pool.Return(reused);
    }

    [Fact]
    public void Return_OfALargeBuffer_ClearsItOffTheCallersThreadBeforeItIsRentedAgain()
    {
        var pool = new TensorMemoryPool();
        var length = TensorMemoryPool.ScrubInBackgroundFrom * 3;
        var buffer = new TensorBuffer(pool, DataType.UInt8, [length], length, length);
        var array = buffer.Array;
        buffer.Bytes.Fill(0xA5);
        buffer.Dispose();
        Assert.Equal(0, pool.Outstanding);

        SpinWait.SpinUntil(() => pool.Scrubbing == 0);
        var reused = pool.Rent(length);
        Assert.Same(array, reused);
        Assert.True(reused.AsSpan().IndexOfAnyExcept((byte)0) < 0, "a large returned buffer kept some of its contents");
        pool.Return(reused);
    }

    [Fact]
    public void Rent_UnderTheByteLimit_WaitsForArraysBeingClearedInsteadOfRefusing()
    {
        var size = TensorMemoryPool.ScrubInBackgroundFrom * 4;
        var pool = new TensorMemoryPool(byteLimit: size * 2);
        for (var round = 0; round < 20; round++)
        {
            var first = new TensorBuffer(pool, DataType.UInt8, [size], size, size);
            var second = new TensorBuffer(pool, DataType.UInt8, [size], size, size);
            first.Dispose();
            second.Dispose();
        }
        SpinWait.SpinUntil(() => pool.Scrubbing == 0);
        Assert.True(pool.LiveBytes <= size * 2);
    }

    [Fact]
    public void ReleaseIdle_DropsOnlyClassesNotRentedSinceTheLastRelease()
    {
        var pool = new TensorMemoryPool();
        var small = pool.Rent(1000);
        var large = pool.Rent(1 << 20);
        pool.Return(small);
        pool.Return(large);
        SpinWait.SpinUntil(() => pool.Scrubbing == 0); // the large one is cleared in the background
        pool.ReleaseIdle(); // both were rented in this period: kept
        Assert.Equal(2, pool.IdleArrays);

        pool.Return(pool.Rent(1000)); // only the small class is used in the next period
        Assert.Equal(1 << 20, pool.ReleaseIdle());
        Assert.Equal(1, pool.IdleArrays);
        Assert.Equal(1024, pool.ReleaseIdle());
        Assert.Equal(0, pool.IdleArrays);
    }
}
