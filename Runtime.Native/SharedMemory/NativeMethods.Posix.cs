using System.Runtime.InteropServices;

namespace Fabrik.Native.SharedMemory;

/// <summary>The few libc calls that open a POSIX shared-memory object safely (libc.so.6). Flag
/// values differ between architectures; <see cref="OpenFlags"/> holds the ones for this process.</summary>
internal static partial class NativeMethods
{
    public const string Library = "libc.so.6";

    public const int ENOENT = 2;
    public const int EACCES = 13;
    public const int EPERM = 1;
    public const int ELOOP = 40;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;

    /// <summary>statx: describe the descriptor itself (an empty path).</summary>
    public const int AtEmptyPath = 0x1000;

    /// <summary>statx mask: type, mode, owner and size (STATX_BASIC_STATS).</summary>
    public const uint StatxBasicStats = 0x7ff;

    public const int FileTypeMask = 0xF000;
    public const int RegularFile = 0x8000;
    public const int Directory = 0x4000;

    // Variadic in C (the mode); passing it as a fixed int matches the calling convention on
    // x86-64 and arm64 Linux.
    [LibraryImport(Library, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport(Library, EntryPoint = "openat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int OpenAt(int directory, string path, int flags, int mode);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int descriptor);

    /// <summary>statx, whose record has one layout on every architecture (fstat's differs between
    /// x86-64 and arm64); with <see cref="AtEmptyPath"/> it describes an open descriptor, as fstat does.</summary>
    [LibraryImport(Library, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static unsafe partial int Statx(int directory, string path, int flags, uint mask, byte* record);

    [LibraryImport(Library, EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();
}
