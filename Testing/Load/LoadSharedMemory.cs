namespace Fabrik.Testing.Load;

/// <summary>--shared-memory none|system|cuda (perf_analyzer's flag): where the inputs travel.</summary>
public enum LoadSharedMemory
{
    /// <summary>In every request's body.</summary>
    None,

    /// <summary>Written once into a POSIX shared-memory object that every request names.</summary>
    System,

    /// <summary>Copied once into device memory on CUDA device 0, exported with its IPC handle, that
    /// every request names.</summary>
    Cuda,
}
