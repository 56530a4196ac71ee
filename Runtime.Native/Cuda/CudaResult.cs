using System.Runtime.InteropServices;

namespace Fabrik.Native.Cuda;

/// <summary>Turns a CUresult into a <see cref="NativeException"/> carrying the driver's own message.</summary>
internal static class CudaResult
{
    public static void Check(int result, string function)
    {
        if (result != NativeMethods.Success)
        {
            var message = NativeMethods.GetErrorString(result, out var text) == NativeMethods.Success
                ? Marshal.PtrToStringUTF8(text)
                : null;
            throw new NativeException($"{function} failed: {message ?? "unknown error"} (CUDA error {result})");
        }
    }
}
