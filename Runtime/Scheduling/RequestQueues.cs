namespace Fabrik.Scheduling;

/// <summary>
/// The waiting requests of one model version: one queue per priority level, each shared fairly
/// between tenants (<see cref="FairQueue"/>), the DELAY queue behind them (arrival order), and
/// the signal that makes waiting instance loops re-plan.
/// </summary>
/// <remarks>
/// Locking: <see cref="Gate"/> is the scheduler's one lock. It guards everything here, the
/// deadline heap (<see cref="DeadlineQueue"/>), the instance slots (<see cref="InstanceSlots"/>)
/// and every <see cref="PendingRequest"/> field but its completion. Every member but
/// <see cref="Count"/> and <see cref="TryWithdraw"/> is called with <see cref="Gate"/> held. No
/// native call and no completion happens under it.
/// </remarks>
internal sealed class RequestQueues
{
    private readonly FairQueue[] _levels;
    private readonly int[] _listed; // candidates listed from each level by the last Candidates
    private readonly LinkedList<PendingRequest> _delayed = new();
    private readonly List<PendingRequest> _candidates = [];
    private TaskCompletionSource _wake = NewWake();
    private bool _wakeAwaited; // a loop holds _wake's task and will wait on it
    private long _nextSequence;

    public RequestQueues(int priorityLevels, int defaultMaxQueueSize)
    {
        _levels = new FairQueue[Math.Max(1, priorityLevels)];
        _listed = new int[_levels.Length];
        var pool = new Stack<TenantQueue>();
        for (var i = 0; i < _levels.Length; i++)
        {
            _levels[i] = new FairQueue(pool);
        }
        DefaultMaxQueueSize = defaultMaxQueueSize;
    }

    /// <summary>The scheduler's lock (see the remarks).</summary>
    public Lock Gate { get; } = new();

    /// <summary>The bound used when the queue policy sets no max_queue_size.</summary>
    public int DefaultMaxQueueSize { get; }

    /// <summary>Set once, when the scheduler starts shutting down: no request is added after.</summary>
    public bool Stopping { get; set; }

    /// <summary>Requests waiting, taking the lock.</summary>
    public int Count
    {
        get
        {
            lock (Gate)
            {
                return CountHeld();
            }
        }
    }

    /// <summary>Requests waiting.</summary>
    public int CountHeld()
    {
        var count = _delayed.Count;
        foreach (var queue in _levels)
        {
            count += queue.Count;
        }
        return count;
    }

    /// <summary>Tenant sub-queues live across the priority levels: never more than the requests
    /// queued at them.</summary>
    public int TenantQueuesHeld()
    {
        var count = 0;
        foreach (var queue in _levels)
        {
            count += queue.TenantCount;
        }
        return count;
    }

    public bool IsEmpty()
    {
        foreach (var queue in _levels)
        {
            if (queue.Count > 0)
            {
                return false;
            }
        }
        return _delayed.Count == 0;
    }

    /// <summary>The next arrival number, for preserve_ordering and deadline ties.</summary>
    public long NextSequence() => _nextSequence++;

    /// <summary>Admission's queue bound: the reason a request at <paramref name="level"/> is
    /// refused, or null when there is room. A max_queue_size bounds its level's queue; without
    /// one, every queue together holds at most <see cref="DefaultMaxQueueSize"/>.</summary>
    public string? Refusal(int level, int maxQueueSize, string modelName)
    {
        var queue = _levels[level - 1];
        if (maxQueueSize > 0)
        {
            return queue.Count >= maxQueueSize
                ? $"Exceeds maximum queue size: model '{modelName}' has {queue.Count} requests queued at priority {level} (max_queue_size {maxQueueSize})"
                : null;
        }
        return CountHeld() >= DefaultMaxQueueSize
            ? $"Exceeds maximum queue size: model '{modelName}' has {DefaultMaxQueueSize} requests queued (the default bound; set max_queue_size in its queue policy to change it)"
            : null;
    }

    /// <summary>Queues <paramref name="pending"/> at the back of its tenant's queue at its level.</summary>
    public void Add(PendingRequest pending) => _levels[pending.Queue].Add(pending);

    /// <summary>Still in its priority queue: not batched, cancelled, or demoted by DELAY.</summary>
    public bool WaitsForTimeout(PendingRequest pending) => pending.TenantQueue is not null;

    /// <summary>Takes a queued request out of whichever queue holds it.</summary>
    public void Remove(PendingRequest pending)
    {
        if (pending.TenantQueue is not null)
        {
            _levels[pending.Queue].Remove(pending);
            return;
        }
        _delayed.Remove(pending.Node!);
        pending.Node = null;
    }

    /// <summary>DELAY: moves a timed-out request behind every request that has not timed out.</summary>
    public void Demote(PendingRequest pending)
    {
        Remove(pending);
        pending.Node = _delayed.AddLast(pending);
    }

    /// <summary>Removes a request the client gave up on, taking the lock; false when it has
    /// already left its queue (to a batch, a timeout, or an earlier cancellation).</summary>
    public bool TryWithdraw(PendingRequest pending)
    {
        lock (Gate)
        {
            if (pending.Node is null)
            {
                return false;
            }
            Remove(pending);
            return true;
        }
    }

    /// <summary>The queued requests in scheduling order, priority levels first to last (each in
    /// its fair order between tenants), then the delayed ones, at most <paramref name="limit"/> of
    /// them: every request has at least one row, so max_batch_size + 1 candidates are all the
    /// planner can use and a long queue is not copied. The list is reused; it is valid until the
    /// next call, and <see cref="Take"/> takes from it under the same hold of the lock.</summary>
    public List<PendingRequest> Candidates(int limit)
    {
        _candidates.Clear();
        CandidatesOldest = long.MaxValue;
        for (var i = 0; i < _levels.Length; i++)
        {
            var before = _candidates.Count;
            _levels[i].List(_candidates, limit - before);
            _listed[i] = _candidates.Count - before;
            if (before == 0 && _listed[i] > 0)
            {
                CandidatesOldest = _levels[i].OldestEnqueued;
            }
        }
        for (var node = _delayed.First; node is not null && _candidates.Count < limit; node = node.Next)
        {
            _candidates.Add(node.Value);
        }
        return _candidates;
    }

    /// <summary>Enqueue timestamp of the oldest request at the level the last candidates start
    /// from (which fair order may not list first): the batching delay is measured from it.</summary>
    public long CandidatesOldest { get; private set; }

    /// <summary>Moves the first <paramref name="count"/> of the last <see cref="Candidates"/> out
    /// of their queues into <paramref name="batch"/>, in the same order.</summary>
    public void Take(int count, List<PendingRequest> batch)
    {
        for (var i = 0; i < _levels.Length && count > 0; i++)
        {
            var take = Math.Min(count, _listed[i]);
            _levels[i].Take(take, batch);
            count -= take;
        }
        for (; count > 0; count--)
        {
            var pending = _delayed.First!.Value;
            Remove(pending);
            batch.Add(pending);
        }
    }

    /// <summary>The task a loop about to wait should wait on: it completes at the next
    /// <see cref="Wake"/>.</summary>
    public Task WakeTask()
    {
        _wakeAwaited = true;
        return _wake.Task;
    }

    /// <summary>Every waiting loop re-plans. Costs nothing when no loop waits.</summary>
    public void Wake()
    {
        if (!_wakeAwaited)
        {
            return;
        }
        _wakeAwaited = false;
        var wake = _wake;
        _wake = NewWake();
        wake.TrySetResult();
    }

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
