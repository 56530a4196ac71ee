namespace Fabrik.Scheduling;

/// <summary>
/// preserve_ordering: releases completions in arrival order. A request that finishes early waits
/// here until every request that arrived before it has finished (successfully or not).
/// </summary>
/// <remarks>Thread-safe; completions run outside the lock, in sequence order.</remarks>
internal sealed class OrderedCompletion
{
    private readonly Lock _gate = new();
    private readonly SortedDictionary<long, (PendingRequest Pending, Action<PendingRequest> Complete)> _finished = [];
    private long _next;
    private bool _releasing;

    /// <summary>Finished requests waiting for an earlier one.</summary>
    public int Held
    {
        get
        {
            lock (_gate)
            {
                return _finished.Count;
            }
        }
    }

    public void Complete(PendingRequest pending, Action<PendingRequest> complete)
    {
        lock (_gate)
        {
            _finished.Add(pending.Sequence, (pending, complete));
            if (_releasing)
            {
                return; // the thread already releasing will pick this one up
            }
            _releasing = true;
        }
        while (true)
        {
            (PendingRequest Pending, Action<PendingRequest> Complete) ready;
            lock (_gate)
            {
                if (!_finished.Remove(_next, out ready))
                {
                    _releasing = false;
                    return;
                }
                _next++;
            }
            ready.Complete(ready.Pending);
        }
    }
}
