namespace Fabrik.Native.Memory;

/// <summary>
/// The process's native heap (glibc's malloc, used by ONNX Runtime, libtorch and the runtime
/// itself). glibc creates up to eight arenas per core as threads allocate and rarely hands their
/// free pages back, so a server's resident memory creeps up with traffic; capping the arenas and
/// trimming when idle keeps it level. Every call is a no-op where the C library is not glibc.
/// </summary>
public static class NativeHeap
{
    /// <summary>The arena cap applied at start-up unless the operator set MALLOC_ARENA_MAX.</summary>
    public const int DefaultArenaLimit = 2;

    /// <summary>What <see cref="LimitArenas"/> decided, for the start-up log; written once at
    /// start-up, before the server's threads exist.</summary>
    public static string ArenaSetting { get; private set; } = "malloc arenas: left as they are";

    /// <summary>Caps glibc's arenas at <paramref name="arenas"/>, for arenas created from now on
    /// (call it before the native libraries start their threads). Leaves an operator's own
    /// MALLOC_ARENA_MAX alone. Returns what was decided, for the start-up log.</summary>
    public static string LimitArenas(int arenas)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(arenas, 1);
        return ArenaSetting = DecideArenas(arenas);
    }

    private static string DecideArenas(int arenas)
    {
        if (!OperatingSystem.IsLinux())
        {
            return "malloc arenas: not glibc, left as they are";
        }
        if (Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is { Length: > 0 } set)
        {
            return $"malloc arenas: at most {set} (MALLOC_ARENA_MAX)";
        }
        try
        {
            return NativeMethods.MallOpt(NativeMethods.ArenaMaxParameter, arenas) == 1
                ? $"malloc arenas: at most {arenas}"
                : "malloc arenas: the C library refused a limit, left as they are";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "malloc arenas: not glibc, left as they are";
        }
    }

    /// <summary>Returns the native heap's free pages to the kernel. Takes the allocator's locks
    /// for a few milliseconds, so call it when the server is idle. Returns true when memory was
    /// released.</summary>
    public static bool Trim()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            return NativeMethods.MallocTrim(0) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
