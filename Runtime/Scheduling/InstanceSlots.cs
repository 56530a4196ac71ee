using System.Diagnostics;

namespace Fabrik.Scheduling;

/// <summary>
/// Which instances are running a batch, and since when. One slot per instance; a slot is claimed
/// by the instance's own loop or by a caller that runs a request inline, and released by
/// <see cref="EndRun"/> on both paths, which wakes the loops so that a loop kept waiting by an
/// inline run, or queued work, is planned again.
/// </summary>
/// <remarks>Locking: the busy flags are guarded by <see cref="RequestQueues.Gate"/>
/// (<see cref="TryClaimIdle"/>, <see cref="Claim"/> and <see cref="IsBusy"/> are called with it
/// held; <see cref="EndRun"/> takes it). The run start times are read by the watchdog without the
/// lock, through Volatile.</remarks>
internal sealed class InstanceSlots(int count, RequestQueues queues)
{
    private readonly bool[] _busy = new bool[count];
    private readonly long[] _runStartedAt = new long[count]; // Stopwatch timestamp of the run in progress; 0 when idle

    /// <summary>How long the oldest run in progress has been running; zero when every instance
    /// is idle.</summary>
    public TimeSpan LongestRun
    {
        get
        {
            var oldest = 0L;
            foreach (ref readonly var started in _runStartedAt.AsSpan())
            {
                var value = Volatile.Read(in started);
                if (value != 0 && (oldest == 0 || value < oldest))
                {
                    oldest = value;
                }
            }
            return oldest == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(oldest);
        }
    }

    /// <summary>Claims the first idle slot; -1 when every instance is busy. Under the gate.</summary>
    public int TryClaimIdle()
    {
        var slot = Array.IndexOf(_busy, false);
        if (slot >= 0)
        {
            _busy[slot] = true;
        }
        return slot;
    }

    /// <summary>Gives back a slot claimed by <see cref="TryClaimIdle"/> that did not run after all.
    /// Under the gate; the caller queues its request and wakes the loops itself.</summary>
    public void Unclaim(int slot) => _busy[slot] = false;

    /// <summary>Claims <paramref name="slot"/> for its loop's batch. Under the gate.</summary>
    public void Claim(int slot) => _busy[slot] = true;

    /// <summary>Under the gate.</summary>
    public bool IsBusy(int slot) => _busy[slot];

    /// <summary>The claimed slot's run begins now (for the watchdog).</summary>
    public void BeginRun(int slot) => Volatile.Write(ref _runStartedAt[slot], Stopwatch.GetTimestamp());

    /// <summary>The slot's run is over: the slot is idle again, and the loops re-plan if anything
    /// waits or the scheduler is stopping. Takes the gate.</summary>
    public void EndRun(int slot)
    {
        Volatile.Write(ref _runStartedAt[slot], 0);
        lock (queues.Gate)
        {
            _busy[slot] = false;
            if (!queues.IsEmpty() || queues.Stopping)
            {
                queues.Wake();
            }
        }
    }
}
