namespace Fabrik.Native.Cuda;

/// <summary>A context made current by <see cref="CudaContext.Enter"/>; disposing it restores the
/// thread's previous context.</summary>
public readonly struct CudaContextScope : IDisposable
{
    /// <summary>Pops the context off the calling thread.</summary>
    public void Dispose() => NativeMethods.CtxPopCurrent(out _);
}
