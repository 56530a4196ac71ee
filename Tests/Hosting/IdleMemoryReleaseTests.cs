using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Fabrik.Hosting;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>The server gives memory back once traffic stops, on its own clock, and only once per
/// idle stretch; while traffic goes on it trims the native heap once a minute.</summary>
public sealed partial class IdleMemoryReleaseTests
{
    [Fact]
    public unsafe void BusyMinute_HandsThePagesFreedInsideTheNativeHeapBackToTheKernel()
    {
        // Blocks under glibc's mmap threshold land in an arena. Every other one is freed, in
        // address order, and the highest stays allocated, so each freed block sits between blocks
        // still in use, inside the arena: free() returns only an arena's top, never these pages.
        const int BlockBytes = 96 * 1024;
        var blocks = new nint[513];
        for (var i = 0; i < blocks.Length; i++)
        {
            blocks[i] = (nint)NativeMemory.Alloc(BlockBytes);
            new Span<byte>((void*)blocks[i], BlockBytes).Fill(1); // touch every page
        }
        Array.Sort(blocks);
        var freed = new nint[blocks.Length / 2]; // 256 blocks, 24 MiB
        var pool = new TensorMemoryPool(clearOnReturn: false);
        using var release = new IdleMemoryRelease(pool, new ManualTimeProvider());
        try
        {
            for (var i = 0; i < freed.Length; i++)
            {
                freed[i] = blocks[2 * i];
                NativeMemory.Free((void*)freed[i]);
            }
            var residentBefore = ResidentFraction(freed, BlockBytes);

            Serve(pool, 1024); // a request this minute: the tick finds the server busy
            var (_, heapsReturned, busyTrim, _) = release.Tick();
            var residentAfter = ResidentFraction(freed, BlockBytes);

            Assert.False(heapsReturned);
            Assert.True(busyTrim);
            Assert.Equal(1, release.BusyTrims);
            Assert.True(residentBefore > 0.9, $"free() alone returned the pages ({residentBefore:P0} still resident): the test shows nothing");
            Assert.True(residentAfter < 0.25, $"{residentAfter:P0} of the freed pages are still resident after the busy minute's trim");
        }
        finally
        {
            for (var i = 1; i < blocks.Length; i += 2)
            {
                NativeMemory.Free((void*)blocks[i]);
            }
            NativeMemory.Free((void*)blocks[^1]);
        }
    }

    /// <summary>The fraction of the whole pages inside freed <paramref name="blocks"/> that are in
    /// memory (mincore), skipping each block's first page, where the allocator keeps its headers.
    /// A range no longer mapped counts as not resident.</summary>
    private static unsafe double ResidentFraction(ReadOnlySpan<nint> blocks, int blockBytes)
    {
        var page = Environment.SystemPageSize;
        long resident = 0, pages = 0;
        var vector = new byte[blockBytes / page + 1];
        foreach (var block in blocks)
        {
            var start = (block + page) & ~(nint)(page - 1);
            var count = (int)((block + blockBytes - start) / page);
            fixed (byte* state = vector)
            {
                if (MinCore(start, (nuint)(count * page), state) != 0)
                {
                    pages += count;
                    continue;
                }
            }
            pages += count;
            for (var i = 0; i < count; i++)
            {
                resident += vector[i] & 1;
            }
        }
        return pages == 0 ? 0 : (double)resident / pages;
    }

    [LibraryImport("libc.so.6", EntryPoint = "mincore")]
    private static unsafe partial int MinCore(nint address, nuint length, byte* vector);

    [Fact]
    public void FirstIdleMinute_AfterTraffic_ReturnsTheHeapsOnce()
    {
        var pool = new TensorMemoryPool(clearOnReturn: false); // returns land at once, not after a background clear
        var clock = new ManualTimeProvider();
        using var release = new IdleMemoryRelease(pool, clock);

        Serve(pool, 1 << 20);
        clock.Advance(IdleMemoryRelease.Period); // a busy minute: nothing returned
        Assert.Equal(0, release.Returns);
        Assert.Equal(1 << 20, pool.LiveBytes);

        clock.Advance(IdleMemoryRelease.Period); // the first idle minute
        Assert.Equal(1, release.Returns);
        Assert.Equal(0, pool.LiveBytes);

        clock.Advance(IdleMemoryRelease.Period * 5); // still idle: not collected again
        Assert.Equal(1, release.Returns);

        Serve(pool, 4096);
        clock.Advance(IdleMemoryRelease.Period);
        clock.Advance(IdleMemoryRelease.Period);
        Assert.Equal(2, release.Returns);
    }

    [Fact]
    public void ARequestStillRunning_IsNotIdle()
    {
        var pool = new TensorMemoryPool(clearOnReturn: false); // returns land at once, not after a background clear
        var clock = new ManualTimeProvider();
        using var release = new IdleMemoryRelease(pool, clock);
        var inFlight = pool.Rent(1024);

        clock.Advance(IdleMemoryRelease.Period);
        clock.Advance(IdleMemoryRelease.Period);
        Assert.Equal(0, release.Returns);

        pool.Return(inFlight);
        clock.Advance(IdleMemoryRelease.Period); // its rent was before the previous tick: idle now
        Assert.Equal(1, release.Returns);
    }

    [Fact]
    public void Tick_ReportsThePoolBytesItReleased()
    {
        var pool = new TensorMemoryPool(clearOnReturn: false); // returns land at once, not after a background clear
        using var release = new IdleMemoryRelease(pool, new ManualTimeProvider(), pinnedHeap: () => default);
        Serve(pool, 1 << 16);

        Assert.Equal((0L, false, true, false), release.Tick());
        Assert.Equal((1L << 16, true, false, false), release.Tick());
        Assert.Equal((0L, false, false, false), release.Tick()); // still idle: nothing to do
    }

    [Fact]
    public void PinnedArraysPastTheBound_SinceTheLastFullCollection_AreCollected_OnBusyMinutesOnly()
    {
        var pool = new TensorMemoryPool(clearOnReturn: false);
        var heap = new PinnedHeap(4L << 20, 4L << 20);
        using var release = new IdleMemoryRelease(pool, new ManualTimeProvider(), pinnedHeap: () => heap);

        heap = heap with { ObjectsNow = heap.ObjectsNow + IdleMemoryRelease.PinnedGrowthBound }; // at the bound: not yet
        Serve(pool, 1024);
        Assert.False(release.Tick().PinnedCollected);

        heap = heap with { ObjectsNow = heap.ObjectsNow + 1 };
        Serve(pool, 1024);
        Assert.True(release.Tick().PinnedCollected);
        Assert.Equal(1, release.PinnedCollections);

        // Half of it was live at that collection: the growth counts from there.
        var live = heap.LiveAfterLastFullCollection + (IdleMemoryRelease.PinnedGrowthBound / 2);
        heap = new PinnedHeap(live, live);
        Serve(pool, 1024);
        Assert.False(release.Tick().PinnedCollected);

        heap = heap with { ObjectsNow = heap.ObjectsNow + IdleMemoryRelease.PinnedGrowthBound + 1 };
        Assert.False(release.Tick().PinnedCollected); // an idle minute returns the heaps its own way
        Assert.Equal(1, release.PinnedCollections);
    }

    [Fact]
    public void BusyMinute_AfterMorePinnedArraysThanTheBound_FreesTheDroppedOnes()
    {
        var pool = new TensorMemoryPool(clearOnReturn: false);
        using var release = new IdleMemoryRelease(pool, new ManualTimeProvider());
        var dropped = DropPinnedArrays(IdleMemoryRelease.PinnedGrowthBound * 2);
        GC.Collect(0); // a young collection: the pinned heap is not collected, but its objects are counted

        Serve(pool, 1024);
        release.Tick();

        // Not asserted that the tick collected: a full collection started by another test in
        // between would have freed them already, and then nothing is left to collect.
        Assert.DoesNotContain(dropped, array => array.IsAlive);
    }

    /// <summary>Allocates pinned arrays of <paramref name="bytes"/> in all and keeps only weak
    /// references to them (in its own frame, so no local of the caller holds one).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference[] DropPinnedArrays(long bytes)
    {
        const int ArrayBytes = 64 * 1024;
        return [.. Enumerable.Range(0, (int)(bytes / ArrayBytes)).Select(_ => new WeakReference(GC.AllocateArray<byte>(ArrayBytes, pinned: true)))];
    }

    [Fact]
    public void AfterDispose_TheTimerNoLongerFires()
    {
        var pool = new TensorMemoryPool(clearOnReturn: false); // returns land at once, not after a background clear
        var clock = new ManualTimeProvider();
        var release = new IdleMemoryRelease(pool, clock);
        Serve(pool, 1024);
        release.Dispose();

        clock.Advance(IdleMemoryRelease.Period * 3);

        Assert.Equal(0, release.Returns);
        Assert.Equal(1024, pool.LiveBytes);
    }

    private static void Serve(TensorMemoryPool pool, int bytes) => pool.Return(pool.Rent(bytes));
}
