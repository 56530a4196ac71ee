using System.Runtime.InteropServices;

namespace Fabrik.Native.SharedMemory;

/// <summary>open(2) flags for this process's architecture: O_NOFOLLOW and O_DIRECTORY have other
/// values on arm64 than on x86-64.</summary>
internal static class OpenFlags
{
    public const int ReadOnly = 0x0;
    public const int ReadWrite = 0x2;
    public const int NoControllingTerminal = 0x100;
    public const int NonBlocking = 0x800;
    public const int CloseOnExec = 0x80000;

    /// <summary>False on an architecture whose values are not known here; nothing is opened there.</summary>
    public static bool Known => RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    public static int NoFollow => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x8000 : 0x20000;

    public static int Directory => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x4000 : 0x10000;
}
