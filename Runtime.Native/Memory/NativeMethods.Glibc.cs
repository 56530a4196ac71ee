using System.Runtime.InteropServices;

namespace Fabrik.Native.Memory;

/// <summary>glibc's allocator controls (libc.so.6). Absent on other C libraries (musl), where the
/// callers treat a missing entry point as "not supported".</summary>
internal static partial class NativeMethods
{
    public const string Library = "libc.so.6";

    /// <summary>mallopt's parameter for the most arenas (per-thread heaps) glibc may create.</summary>
    public const int ArenaMaxParameter = -8;

    /// <summary>Returns 1 on success.</summary>
    [LibraryImport(Library, EntryPoint = "mallopt")]
    public static partial int MallOpt(int parameter, int value);

    /// <summary>Gives free memory at the top of each arena, and free pages inside them, back to the
    /// kernel. Returns 1 when some memory was released.</summary>
    [LibraryImport(Library, EntryPoint = "malloc_trim")]
    public static partial int MallocTrim(nuint pad);
}
