using System.Runtime.InteropServices;
using System.Text;

namespace Fabrik.Native.Nvml;

/// <summary>
/// An initialised NVML library: nvmlInit on creation, nvmlShutdown on release. Device handles
/// obtained through it are valid until the session is released.
/// </summary>
internal sealed class NvmlSession : SafeHandle
{
    private NvmlSession()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Initialises NVML. Native failures come back as <see cref="NativeException"/>
    /// carrying NVML's own message; a missing library as <see cref="DllNotFoundException"/>.</summary>
    public static NvmlSession Open()
    {
        Check(NativeMethods.Init(), "nvmlInit");
        var session = new NvmlSession();
        session.SetHandle(new IntPtr(1)); // NVML has no session pointer; non-zero marks "initialised"
        return session;
    }

    protected override bool ReleaseHandle() => NativeMethods.Shutdown() == NativeMethods.Success;

    public static void Check(int result, string function)
    {
        if (result != NativeMethods.Success)
        {
            var message = Marshal.PtrToStringUTF8(NativeMethods.ErrorString(result)) ?? $"error {result}";
            throw new NativeException($"{function} failed: {message} (NVML error {result})");
        }
    }

    /// <summary>Reads a NUL-terminated string that NVML writes into a caller buffer.</summary>
    public static unsafe string ReadString(Func<IntPtr, uint, int> call, string function)
    {
        const uint length = 96;
        var buffer = stackalloc byte[(int)length];
        Check(call((IntPtr)buffer, length), function);
        return Encoding.UTF8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(buffer));
    }
}
