using Fabrik.Configuration;

namespace Fabrik.Scheduling;

/// <summary>
/// Queue timeouts at the cost of a heap operation per request: queued requests with a deadline
/// sit in a min-heap (earliest first, ties in arrival order), and one timer, armed for the top,
/// pops what is due. A REJECT request that times out is handed to <c>reject</c>; a DELAY one moves
/// behind every request that has not timed out. The queue itself is never walked.
/// </summary>
/// <remarks>
/// Locking: the heap and the timer's due time are guarded by <see cref="RequestQueues.Gate"/>;
/// <see cref="Track"/> is called with it held, the timer callback takes it, and the rejected
/// requests are handed on after it is released. A request that leaves its queue early stays in
/// the heap until it reaches the top or the heap is compacted.
/// </remarks>
internal sealed class DeadlineQueue : IAsyncDisposable
{
    private readonly PriorityQueue<PendingRequest, (long Deadline, long Sequence)> _heap = new();
    private readonly RequestQueues _queues;
    private readonly TimeProvider _time;
    private readonly Action<List<PendingRequest>> _reject;
    private readonly ITimer _timer;
    private long _timerDue = long.MaxValue;

    /// <param name="queues">The queues whose requests are tracked, and their lock.</param>
    /// <param name="time">The clock deadlines are read on.</param>
    /// <param name="reject">Answers REJECT requests whose timeout passed; called outside the lock.</param>
    public DeadlineQueue(RequestQueues queues, TimeProvider time, Action<List<PendingRequest>> reject)
    {
        _queues = queues;
        _time = time;
        _reject = reject;
        _timer = time.CreateTimer(static state => ((DeadlineQueue)state!).Expire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Heap entries examined so far: one per request that timed out or left its queue,
    /// never a walk of the whole queue.</summary>
    public long Examinations { get; private set; }

    /// <summary>Adds a queued request's deadline, arms the timer if it is the earliest, and drops
    /// entries of requests that have left their queues once they outnumber the live ones (so each
    /// request costs O(log n) here, amortized). Under the gate.</summary>
    public void Track(PendingRequest pending)
    {
        if (_heap.Count >= 64 && _heap.Count > 2 * _queues.CountHeld())
        {
            var live = _heap.UnorderedItems.Where(entry => _queues.WaitsForTimeout(entry.Element)).ToList();
            _heap.Clear();
            _heap.EnqueueRange(live);
        }
        _heap.Enqueue(pending, (pending.Deadline, pending.Sequence));
        if (pending.Deadline < _timerDue)
        {
            Arm(pending.Deadline);
        }
    }

    /// <summary>Timer callback: rejects (REJECT) or demotes (DELAY) requests whose queue timeout
    /// has passed, then re-arms for the next deadline and wakes the loops.</summary>
    private void Expire()
    {
        List<PendingRequest>? rejected = null;
        lock (_queues.Gate)
        {
            var now = _time.GetTimestamp();
            var next = long.MaxValue;
            while (_heap.TryPeek(out var pending, out var due))
            {
                Examinations++;
                if (!_queues.WaitsForTimeout(pending))
                {
                    _heap.Dequeue(); // it left its queue before its deadline
                    continue;
                }
                if (due.Deadline > now)
                {
                    next = due.Deadline;
                    break;
                }
                _heap.Dequeue();
                if (pending.OnTimeout == TimeoutAction.Reject)
                {
                    _queues.Remove(pending);
                    (rejected ??= []).Add(pending);
                }
                else
                {
                    _queues.Demote(pending);
                }
            }
            _timerDue = long.MaxValue;
            if (next != long.MaxValue)
            {
                Arm(next);
            }
            _queues.Wake();
        }
        if (rejected is not null)
        {
            _reject(rejected);
        }
    }

    // Under the gate. Timers are relative, so the clock is read at arming time, and read again
    // afterwards: if it passed the deadline meanwhile, the expiry runs now instead.
    private void Arm(long deadline)
    {
        _timerDue = deadline;
        var due = TimeSpan.FromSeconds(Math.Max(0, deadline - _time.GetTimestamp()) / (double)_time.TimestampFrequency);
        _timer.Change(due, Timeout.InfiniteTimeSpan);
        if (_time.GetTimestamp() >= deadline)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static deadlines => deadlines.Expire(), this, preferLocal: false);
        }
    }

    public ValueTask DisposeAsync() => _timer.DisposeAsync();
}
