using System.Collections.Concurrent;

namespace Fabrik.Execution.Pipeline;

/// <summary>
/// The moving parts of one staged instance's pipeline: a fixed number of staging sets (the depth:
/// the most batches in flight at once), the run stage and the copy-out stage, each on its own
/// thread, and the hand-offs between them. The caller gathers a batch into a set it acquired and
/// copies it in on its own thread, then posts it to the run stage; the run stage's handler posts
/// it on to copy-out, whose handler scatters, answers and releases the set. What a stage does with
/// a batch is the owner's (the scheduler's executor); this class only moves sets and stops.
/// </summary>
/// <remarks>
/// Every wait here is bounded: a free set is waited for at most the stall timeout, and a drain
/// waits for each stage at most that long before it aborts the stages and hands back the sets
/// still inside, whose batches the owner then answers. Ownership: owns the sets and, once built,
/// the instance's disposal, which waits until both stage threads have ended, so that a run that
/// outlives an aborted drain never finds its session freed under it.
/// </remarks>
internal sealed class InstancePipeline
{
    private readonly IStagedModelInstance _instance;
    private readonly StagingSet[] _sets;
    private readonly ConcurrentQueue<StagingSet> _free = new();
    private readonly SemaphoreSlim _freeCount;
    private readonly CancellationTokenSource _abort = new();
    private readonly StageWorker _run;
    private readonly StageWorker _copyOut;
    private readonly TimeSpan _stallTimeout;

    /// <summary>Makes <paramref name="depth"/> staging sets and starts the two stage threads.
    /// When a set does not fit under the tensor pool's limit, the sets made so far are freed, no
    /// thread is started, and the instance stays the caller's.</summary>
    /// <exception cref="Tensors.TensorPoolExhaustedException">The sets do not fit.</exception>
    public InstancePipeline(IStagedModelInstance instance, int depth, string name, Action<StagingSet> run, Action<StagingSet> copyOut,
        Action<StagingSet, Exception> fault, TimeSpan stallTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 2);
        var sets = new List<StagingSet>(depth);
        try
        {
            for (var i = 0; i < depth; i++)
            {
                var set = instance.CreateStagingSet();
                set.Index = i;
                sets.Add(set);
            }
        }
        catch
        {
            sets.ForEach(set => set.Dispose());
            throw;
        }
        _instance = instance;
        _sets = [.. sets];
        foreach (var set in _sets)
        {
            _free.Enqueue(set);
        }
        _freeCount = new SemaphoreSlim(depth, depth);
        _stallTimeout = stallTimeout;
        _run = new StageWorker($"{name} run", run, fault, _abort.Token);
        _copyOut = new StageWorker($"{name} copy-out", copyOut, fault, _abort.Token);
    }

    /// <summary>Staging sets: the most batches in flight.</summary>
    public int Depth => _sets.Length;

    /// <summary>Batches copied in and waiting for the run stage.</summary>
    public int WaitingToRun => _run.Queued;

    /// <summary>True once a drain ran out of time; the stages then take nothing more.</summary>
    public bool Aborted => _abort.IsCancellationRequested;

    /// <summary>Waits for a free staging set: at most the stall timeout, and never past an abort.
    /// Null when none came free (the device has not finished a batch in that time).</summary>
    public StagingSet? Acquire()
    {
        try
        {
            if (!_freeCount.Wait(_stallTimeout, _abort.Token))
            {
                return null;
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        _free.TryDequeue(out var set); // the semaphore counts the queue: there is one
        return set;
    }

    /// <summary>Gives a set back once its batch is answered.</summary>
    public void Release(StagingSet set)
    {
        _free.Enqueue(set);
        _freeCount.Release();
    }

    /// <summary>Hands a copied-in set to the run stage; false once draining has begun.</summary>
    public bool ToRun(StagingSet set) => _run.TryPost(set);

    /// <summary>Hands a run set to the copy-out stage; false once that stage was stopped.</summary>
    public bool ToCopyOut(StagingSet set) => _copyOut.TryPost(set);

    /// <summary>
    /// Stops the pipeline once every batch inside has gone through: the run stage finishes what
    /// was posted to it and ends, then the copy-out stage. Each gets the stall timeout; past it the
    /// stages are aborted. Returns the sets whose batches were then still inside (empty after a
    /// clean drain), for the owner to answer. The sets and the instance are freed once both stage
    /// threads have ended: here, or later when a run that would not stop returns.
    /// </summary>
    public async Task<IReadOnlyList<StagingSet>> DrainAsync()
    {
        _run.Complete();
        var inTime = await EndsInTime(_run.Stopped);
        _copyOut.Complete();
        inTime = inTime && await EndsInTime(_copyOut.Stopped);
        IReadOnlyList<StagingSet> abandoned = [];
        if (!inTime)
        {
            await _abort.CancelAsync();
            var free = _free.ToHashSet();
            abandoned = [.. _sets.Where(set => !free.Contains(set))];
        }
        var stopped = Task.WhenAll(_run.Stopped, _copyOut.Stopped);
        if (stopped.IsCompleted)
        {
            FreeResources();
        }
        else
        {
            _ = stopped.ContinueWith(_ => FreeResources(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
        return abandoned;
    }

    private async Task<bool> EndsInTime(Task stopped)
    {
        try
        {
            await stopped.WaitAsync(_stallTimeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private void FreeResources()
    {
        foreach (var set in _sets)
        {
            set.Dispose();
        }
        _instance.Dispose();
        _freeCount.Dispose();
        _abort.Dispose();
    }
}
