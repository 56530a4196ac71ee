using Fabrik.Hosting;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>The server gives memory back once traffic stops, on its own clock, and only once per
/// idle stretch.</summary>
public sealed class IdleMemoryReleaseTests
{
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
        using var release = new IdleMemoryRelease(pool, new ManualTimeProvider());
        Serve(pool, 1 << 16);

        Assert.Equal((0L, false), release.Tick());
        Assert.Equal((1L << 16, true), release.Tick());
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
