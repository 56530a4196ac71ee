namespace Fabrik.Scheduling;

/// <summary>
/// The seam where a batch is handed to an instance: the scheduler decides which requests run
/// together and on which instance; an executor turns them into one run of its instance and answers
/// each request. <see cref="BatchExecutor"/> gathers, runs and scatters in turn;
/// <see cref="PipelinedBatchExecutor"/> overlaps the copies and runs of successive batches.
/// </summary>
/// <remarks>
/// Ownership: <see cref="Execute"/> takes over answering every request in the batch: each one is
/// completed exactly once, through <see cref="RequestCompletion"/>, before it returns or, for a
/// pipelined executor, later from its stages (before its disposal completes). The list itself stays
/// the caller's, who clears and reuses it once <see cref="Execute"/> returns (an executor copies
/// what it keeps); the requests' input buffers stay their callers', read only until the requests
/// are answered. Threading: the scheduler calls <see cref="Execute"/> for one batch at a time per
/// executor (from the instance's loop, or from a caller running a request inline), never under its
/// lock; <see cref="HoldTicks"/> is called under that lock and must be cheap.
/// </remarks>
internal interface IBatchExecutor : IAsyncDisposable
{
    /// <summary>Where the instance runs, for example "CPU" or "GPU 0".</summary>
    string Device { get; }

    /// <summary>Batches it keeps in flight: 1 when each runs to its end before the next.</summary>
    int PipelineDepth { get; }

    /// <summary>How long its device's oldest run in progress has been running (zero when idle or
    /// when the instance slot's run covers it), for the liveness watchdog.</summary>
    TimeSpan LongestRun { get; }

    /// <summary>Whether its device has nothing to run (no batch running or waiting to run).
    /// Read under the scheduler's lock; must be cheap.</summary>
    bool DeviceIdle { get; }

    /// <summary>Runs <paramref name="batch"/> (requests in batch order, at least one) and answers
    /// every request in it.</summary>
    void Execute(List<PendingRequest> batch);

    /// <summary>TimeProvider ticks a batch of <paramref name="rows"/> rows that could still grow
    /// is better held back at <paramref name="now"/>: a pipelined executor whose device has work
    /// ahead asks for the next batch only when the device is about to need it (less the time the
    /// batch takes to copy in), so that requests arriving meanwhile join it instead of waiting
    /// behind it. Zero to take the batch now.</summary>
    long HoldTicks(long now, int rows);
}
