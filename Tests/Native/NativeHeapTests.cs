using System.Runtime.InteropServices;
using Fabrik.Native.Memory;
using Xunit;

namespace Fabrik.Tests.Native;

public sealed class NativeHeapTests
{
    [Fact]
    public void LimitArenas_SaysTheLimitThatHolds()
    {
        // An operator's own setting wins, and is what the start-up log then reports.
        var expected = Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is { Length: > 0 } set
            ? $"malloc arenas: at most {set} (MALLOC_ARENA_MAX)"
            : "malloc arenas: at most 2";

        Assert.Equal(expected, NativeHeap.LimitArenas(2));
        Assert.Equal(expected, NativeHeap.ArenaSetting);
    }

    [Fact]
    public void LimitArenas_RefusesZero() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => NativeHeap.LimitArenas(0));

    [Fact]
    public void Trim_GivesFreedNativeMemoryBack()
    {
        // 48 MiB in blocks under glibc's mmap threshold land in an arena; once freed they stay
        // there until a trim hands the pages back, which malloc_trim reports.
        const int BlockBytes = 96 * 1024;
        var filler = new byte[BlockBytes];
        Array.Fill(filler, (byte)1);
        var blocks = new nint[512];
        for (var i = 0; i < blocks.Length; i++)
        {
            blocks[i] = Marshal.AllocHGlobal(BlockBytes);
            Marshal.Copy(filler, 0, blocks[i], BlockBytes); // touch every page
        }
        foreach (var block in blocks)
        {
            Marshal.FreeHGlobal(block);
        }

        Assert.True(NativeHeap.Trim());
    }
}
