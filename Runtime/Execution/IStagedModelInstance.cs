using Fabrik.Execution.Pipeline;

namespace Fabrik.Execution;

/// <summary>
/// An instance whose run is split into steps that a pipeline overlaps across batches: copy a
/// gathered batch in to the device, run it there, copy its outputs back out. Each step works on
/// one <see cref="StagingSet"/>, so while batch N runs on one set, batch N+1 is copied in through
/// another and batch N−1 is copied out of a third. GPU instances of ONNX Runtime implement it over
/// page-locked host staging and one CUDA stream; the simulated device of the tests and benchmarks
/// implements it by waiting.
/// </summary>
/// <remarks>
/// Threading: <see cref="CopyIn"/>, <see cref="Run(StagingSet, TimeSpan?)"/> and
/// <see cref="CopyOut"/> may run at the same time on three threads, each on a different set; each
/// step is called by one thread at a time, and a set goes through the three in that order. The
/// whole-batch <see cref="IModelInstance.Run(Tensors.TensorBuffer?[], ref ExecutionTimings, TimeSpan?)"/>
/// (warm-up, a request re-run alone) is called only where the staged run would be: never beside
/// a staged <see cref="Run(StagingSet, TimeSpan?)"/>.
/// Ownership: the sets <see cref="CreateStagingSet"/> makes belong to the caller, who disposes
/// them before the instance.
/// </remarks>
internal interface IStagedModelInstance : IModelInstance
{
    /// <summary>The sizes of the staging areas: the model's inputs and outputs at its largest batch.</summary>
    StagingLayout Layout { get; }

    /// <summary>Makes one set of staging buffers, counted against the tensor pool's limit.</summary>
    /// <exception cref="Tensors.TensorPoolExhaustedException">The set does not fit under the limit.</exception>
    StagingSet CreateStagingSet();

    /// <summary>Copies the inputs gathered in <paramref name="set"/> (its <see cref="StagingSet.Rows"/>
    /// rows) to the device. May return before the copy is done, as long as a later
    /// <see cref="Run(StagingSet, TimeSpan?)"/> of the set is ordered after it.</summary>
    void CopyIn(StagingSet set);

    /// <summary>Runs the model on the set's inputs into its outputs on the device; returns once the
    /// run is done. Stopped with DeadlineExceeded once <paramref name="timeLeft"/> has passed where
    /// the backend can stop a run (see <see cref="IModelInstance"/>).</summary>
    void Run(StagingSet set, TimeSpan? timeLeft);

    /// <summary>Copies the set's outputs back to its host areas; returns once they can be read.</summary>
    void CopyOut(StagingSet set);
}
