using System.Collections.Concurrent;

namespace Fabrik.Execution.Pipeline;

/// <summary>
/// One stage of a pipeline: a dedicated thread that takes staging sets from its hand-off queue in
/// the order they were posted and passes each to the stage's handler. A dedicated thread, not the
/// thread pool, because a stage blocks in native calls (a run, a stream synchronisation) for as
/// long as the device takes.
/// </summary>
/// <remarks>Threading: <see cref="TryPost"/> from any thread (the previous stage). The queue never
/// holds more sets than the pipeline has, so posting never blocks. The thread ends once
/// <see cref="Complete"/> was called and the queue is empty (a drain), or at once when the abort
/// token fires (a drain that ran out of time); <see cref="Stopped"/> completes then.</remarks>
internal sealed class StageWorker
{
    private readonly BlockingCollection<StagingSet> _queue = [];
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action<StagingSet> _handle;
    private readonly Action<StagingSet, Exception> _fault;
    private readonly CancellationToken _abort;

    /// <param name="name">The thread's name.</param>
    /// <param name="handle">Does the stage's work on a set and hands it on; it answers its own failures.</param>
    /// <param name="fault">Called with a set whose handler threw all the same, so that its batch is answered.</param>
    /// <param name="abort">Ends the thread without draining.</param>
    public StageWorker(string name, Action<StagingSet> handle, Action<StagingSet, Exception> fault, CancellationToken abort)
    {
        _handle = handle;
        _fault = fault;
        _abort = abort;
        new Thread(Work) { Name = name, IsBackground = true }.Start();
    }

    /// <summary>Sets posted and not yet taken.</summary>
    public int Queued => _queue.Count;

    /// <summary>Completes when the thread has ended.</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>Queues <paramref name="set"/> for this stage; false once the stage is completed.</summary>
    public bool TryPost(StagingSet set)
    {
        try
        {
            return _queue.TryAdd(set);
        }
        catch (InvalidOperationException)
        {
            return false; // completed: the pipeline is draining or gone
        }
    }

    /// <summary>Takes no more sets; the thread ends once the queue is empty.</summary>
    public void Complete() => _queue.CompleteAdding();

    private void Work()
    {
        try
        {
            foreach (var set in _queue.GetConsumingEnumerable(_abort))
            {
                try
                {
                    _handle(set);
                }
                catch (Exception e)
                {
                    _fault(set, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }
}
