using Fabrik.Tensors;

namespace Fabrik.Execution;

/// <summary>
/// One execution instance of a model: a backend session placed on one device. The scheduler
/// calls <c>Run</c> from one loop per instance, so an instance is never entered by two
/// threads at once.
/// </summary>
internal interface IModelInstance : IDisposable
{
    /// <summary>Human-readable placement, for example "CPU" or "GPU 0".</summary>
    string Device { get; }

    /// <summary>
    /// Runs the model once. <paramref name="inputs"/> are in the model's input order (null for an
    /// omitted optional input) and stay owned by the caller. Returns every output in the model's
    /// output order; the caller owns and disposes them. <paramref name="timings"/> receives the
    /// time spent preparing inputs, executing, and extracting outputs. The run is to be stopped
    /// with <see cref="Errors.ErrorKind.DeadlineExceeded"/> once <paramref name="timeLeft"/> has
    /// passed (the requests' own timeouts; zero or less: at once; null: they set none). A backend
    /// that cannot stop a running call says so where it implements this (TorchSharp cannot).
    /// </summary>
    TensorBuffer[] Run(TensorBuffer?[] inputs, ref ExecutionTimings timings, TimeSpan? timeLeft);
}
