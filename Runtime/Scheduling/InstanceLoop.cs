using System.Diagnostics;

namespace Fabrik.Scheduling;

/// <summary>
/// The execution loop of one instance: while its slot is free it asks the
/// <see cref="BatchPlanner"/> for the next batch, waits for an arrival or the batching delay when
/// told to (or while a pipelined executor holds a batch that can still grow back, see
/// <see cref="IBatchExecutor.HoldTicks"/>), and hands each batch it takes to the instance's
/// <see cref="IBatchExecutor"/>. So a batch forms while the previous one runs. The loop ends once the scheduler is stopping and the
/// queues are empty; while stopping, batches go out without waiting for the delay.
/// </summary>
/// <remarks>Locking: plans and takes requests under <see cref="RequestQueues.Gate"/>; executes and
/// waits outside it. A request leaves its queue here exactly once, into one batch.</remarks>
internal sealed class InstanceLoop(int slot, IBatchExecutor[] executors, RequestQueues queues, InstanceSlots slots, SchedulerSettings settings, TimeProvider time)
{
    private readonly IBatchExecutor _executor = executors[slot];

    private static readonly long SpinThresholdTicks = Stopwatch.Frequency / 1000;

    public async Task RunAsync()
    {
        var batch = new List<PendingRequest>();
        while (await NextBatchAsync(batch))
        {
            try
            {
                slots.BeginRun(slot);
                _executor.Execute(batch);
            }
            finally
            {
                slots.EndRun(slot);
                batch.Clear();
            }
        }
    }

    /// <summary>Waits until the planner releases a batch, moves it into <paramref name="batch"/>
    /// and claims the slot. Returns false once the scheduler is stopping and the queues are empty.</summary>
    private async Task<bool> NextBatchAsync(List<PendingRequest> batch)
    {
        var limit = settings.Rules.Batches ? settings.Rules.MaxBatchSize + 1 : 1;
        while (true)
        {
            Task wake;
            var deadline = long.MaxValue;
            var holding = false;
            lock (queues.Gate)
            {
                // While a caller runs an inline request on this instance, the loop only waits; the
                // caller wakes it when done.
                if (!slots.IsBusy(slot))
                {
                    var now = time.GetTimestamp();
                    var candidates = queues.Candidates(limit);
                    if (candidates.Count == 0 && queues.Stopping)
                    {
                        return false;
                    }
                    var plan = BatchPlanner.Plan(candidates, queues.Stopping ? settings.Rules with { MaxQueueDelayTicks = 0 } : settings.Rules, now, queues.CandidatesOldest);
                    // A pipelined executor whose device has batches ahead would only queue this one
                    // behind them: while it can still grow, it waits until the device is about to
                    // need it, and requests arriving meanwhile join it.
                    var growing = plan.Take > 0 && !plan.Full && !queues.Stopping;
                    var hold = growing ? _executor.HoldTicks(now, Rows(candidates, plan.Take)) : 0;
                    if (growing && hold <= 0 && !_executor.DeviceIdle && AnotherDeviceIdle())
                    {
                        // Another instance's device has nothing to run: these requests are for it
                        // (its loop was woken too); look again in a millisecond.
                        hold = time.TimestampFrequency / 1000;
                    }
                    if (plan.Take > 0 && hold <= 0)
                    {
                        queues.Take(plan.Take, batch);
                        candidates.Clear();
                        slots.Claim(slot);
                        return true;
                    }
                    candidates.Clear();
                    holding = plan.Take > 0;
                    var wait = holding ? hold : plan.WaitTicks;
                    deadline = wait == long.MaxValue ? long.MaxValue : now + wait;
                }
                wake = queues.WakeTask();
            }
            await WaitAsync(wake, deadline, precise: !holding);
        }
    }

    private static int Rows(List<PendingRequest> candidates, int take)
    {
        var rows = 0;
        for (var i = 0; i < take; i++)
        {
            rows += candidates[i].Rows;
        }
        return rows;
    }

    /// <summary>Whether another instance is free with nothing on its device. Under the gate.</summary>
    private bool AnotherDeviceIdle()
    {
        for (var other = 0; other < executors.Length; other++)
        {
            if (other != slot && !slots.IsBusy(other) && executors[other].DeviceIdle)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Waits for a wake or until the clock reaches <paramref name="deadline"/>.
    /// Timers fire with about 1 ms granularity on Linux (and may fire early), so when the wait is
    /// <paramref name="precise"/> (a batching delay) the last millisecond on the system clock is
    /// spent yielding and re-planning instead; sub-millisecond delays stay honest. A pipeline's
    /// hold-back is an estimate with a millisecond to spare, so it waits on the timer alone and
    /// leaves the cores to the requests. The deadline is absolute and the clock is read again
    /// once the timer is armed, so a clock that moves meanwhile cannot strand the wait.</summary>
    private async Task WaitAsync(Task wake, long deadline, bool precise)
    {
        if (deadline == long.MaxValue)
        {
            await wake;
            return;
        }
        var system = precise && time == TimeProvider.System;
        var timerDeadline = system ? deadline - SpinThresholdTicks : deadline;
        var remaining = timerDeadline - time.GetTimestamp();
        if (remaining <= 0)
        {
            if (system && time.GetTimestamp() < deadline)
            {
                Thread.Yield();
            }
            return;
        }
        using var cancel = new CancellationTokenSource();
        var delay = Task.Delay(TimeSpan.FromSeconds((double)remaining / time.TimestampFrequency), time, cancel.Token);
        if (time.GetTimestamp() < timerDeadline)
        {
            await Task.WhenAny(wake, delay);
        }
        await cancel.CancelAsync();
    }
}
