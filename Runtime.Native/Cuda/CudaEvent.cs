namespace Fabrik.Native.Cuda;

/// <summary>A CUDA event: recorded on a stream after some work, it lets a host thread wait for
/// that work alone, never for the whole device.</summary>
public sealed class CudaEvent : CudaResource
{
    internal CudaEvent(CudaContext context, IntPtr cudaEvent)
        : base(context, cudaEvent)
    {
    }

    /// <summary>Blocks (sleeping, not spinning) until the work recorded before this event is done.</summary>
    /// <exception cref="NativeException">The work failed on the device.</exception>
    public void Synchronize()
    {
        using var scope = Context.Enter();
        CudaResult.Check(NativeMethods.EventSynchronize(handle), "cuEventSynchronize");
    }

    private protected override int Free(IntPtr cudaEvent) => NativeMethods.EventDestroy(cudaEvent);
}
