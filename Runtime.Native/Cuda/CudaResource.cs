using System.Runtime.InteropServices;

namespace Fabrik.Native.Cuda;

/// <summary>
/// A driver object made in a <see cref="CudaContext"/> (a stream, an event, a buffer). It holds a
/// reference on the context, so the context is released only after everything made in it, and it
/// is freed with that context current, from whichever thread disposes or finalizes it.
/// </summary>
public abstract class CudaResource : SafeHandle
{
    private readonly CudaContext _context;

    /// <summary>Wraps <paramref name="handle"/>, a live object made in <paramref name="context"/>.</summary>
    private protected CudaResource(CudaContext context, IntPtr handle)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        var added = false;
        context.DangerousAddRef(ref added);
        _context = context;
        SetHandle(handle);
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>The context the object was made in.</summary>
    protected CudaContext Context => _context;

    /// <inheritdoc/>
    protected sealed override bool ReleaseHandle()
    {
        try
        {
            if (NativeMethods.CtxPushCurrent(_context.DangerousGetHandle()) != NativeMethods.Success)
            {
                return false;
            }
            try
            {
                return Free(handle) == NativeMethods.Success;
            }
            finally
            {
                NativeMethods.CtxPopCurrent(out _);
            }
        }
        finally
        {
            _context.DangerousRelease();
        }
    }

    /// <summary>Frees the native object; returns the CUresult.</summary>
    private protected abstract int Free(IntPtr handle);
}
