using Fabrik.Execution;

namespace Fabrik.Scheduling;

/// <summary>
/// The batch in one staging set of a <see cref="PipelinedBatchExecutor"/>: its requests (copied
/// from the loop's list), rows and stage timings, and who answers it. One per staging set, reused
/// batch after batch, so a batch in flight allocates nothing here.
/// </summary>
/// <remarks>Threading: written by the stage that holds the set; the hand-offs between stages
/// publish it. Answering is claimed once (<see cref="TryClaim"/>): by the stage that finishes or
/// fails the batch, or by a drain that ran out of time; only the claimant touches the requests
/// afterwards.</remarks>
internal sealed class InFlightBatch
{
    private int _claimed;

    public List<PendingRequest> Requests { get; } = [];

    public int Rows { get; private set; }

    /// <summary>Stopwatch ticks of each stage: gather and copy-in, run, copy-out and scatter.</summary>
    public ExecutionTimings Timings;

    /// <summary>Takes <paramref name="batch"/> into the set (the caller keeps its list).</summary>
    public void Start(List<PendingRequest> batch, int rows)
    {
        Requests.Clear();
        Requests.AddRange(batch);
        Rows = rows;
        Timings = default;
        Volatile.Write(ref _claimed, 0);
    }

    /// <summary>True for the one caller that is to answer the batch.</summary>
    public bool TryClaim() => Interlocked.Exchange(ref _claimed, 1) == 0;

    /// <summary>Whether every client of <paramref name="requests"/> has gone away.</summary>
    public static bool AllCancelled(List<PendingRequest> requests)
    {
        foreach (var pending in requests)
        {
            if (!pending.Request.Cancellation.IsCancellationRequested)
            {
                return false;
            }
        }
        return true;
    }
}
