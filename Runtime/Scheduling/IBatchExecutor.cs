namespace Fabrik.Scheduling;

/// <summary>
/// The seam where a batch is handed to an instance: the scheduler decides which requests run
/// together and on which instance; an executor turns them into one run of its instance and answers
/// each request. <see cref="BatchExecutor"/> gathers, runs and scatters in turn; a pipelined
/// executor (staging, copies and runs overlapping) plugs in here without touching the queues.
/// </summary>
/// <remarks>
/// Ownership: <see cref="Execute"/> takes over answering every request in the batch: each one is
/// completed exactly once, through <see cref="RequestCompletion"/>, before it returns. The list
/// itself stays the caller's, who clears and reuses it afterwards; the requests' input buffers
/// stay their callers', read only while the batch runs. Threading: the scheduler calls
/// <see cref="Execute"/> for one batch at a time per executor (from the instance's loop, or from a
/// caller running a request inline), never under its lock.
/// </remarks>
internal interface IBatchExecutor : IDisposable
{
    /// <summary>Where the instance runs, for example "CPU" or "GPU 0".</summary>
    string Device { get; }

    /// <summary>Runs <paramref name="batch"/> (requests in batch order, at least one) and answers
    /// every request in it.</summary>
    void Execute(List<PendingRequest> batch);
}
