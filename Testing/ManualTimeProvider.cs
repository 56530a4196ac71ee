namespace Fabrik.Testing;

/// <summary>
/// A clock that moves only when a test calls <see cref="Advance"/>, so that batching delays and
/// queue timeouts are tested without sleeping. Timers created from it fire during Advance.
/// </summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly object _gate = new();
    private readonly List<ManualTimer> _timers = [];
    private long _nanoseconds;

    public override long TimestampFrequency => 1_000_000_000;

    public override long GetTimestamp()
    {
        lock (_gate)
        {
            return _nanoseconds;
        }
    }

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.UnixEpoch.AddTicks(GetTimestamp() / 100);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward and fires every timer that falls due, in order.</summary>
    public void Advance(TimeSpan by)
    {
        long target;
        lock (_gate)
        {
            target = _nanoseconds + (long)(by.TotalMilliseconds * 1_000_000);
        }
        while (true)
        {
            ManualTimer? due;
            lock (_gate)
            {
                due = _timers.Where(t => t.DueAt <= target).OrderBy(t => t.DueAt).FirstOrDefault();
                if (due is null)
                {
                    _nanoseconds = target;
                    return;
                }
                _nanoseconds = Math.Max(_nanoseconds, due.DueAt);
                _timers.Remove(due);
                if (due.Period > 0)
                {
                    due.DueAt += due.Period;
                    _timers.Add(due);
                }
            }
            due.Fire();
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public long DueAt { get; set; }

        public long Period { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._gate)
            {
                owner._timers.Remove(this);
                Period = period == Timeout.InfiniteTimeSpan ? 0 : (long)(period.TotalMilliseconds * 1_000_000);
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    DueAt = owner._nanoseconds + (long)(dueTime.TotalMilliseconds * 1_000_000);
                    owner._timers.Add(this);
                }
            }
            return true;
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (owner._gate)
            {
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
