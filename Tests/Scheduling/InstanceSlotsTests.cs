using Fabrik.Inference;
using Fabrik.Scheduling;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Scheduling;

/// <summary>The one slot-accounting path that an instance's loop and an inline run both end
/// through: it frees the slot and wakes a waiting loop when work is queued or the scheduler
/// stops, and only then.</summary>
public sealed class InstanceSlotsTests
{
    private static PendingRequest Queued(RequestQueues queues)
    {
        var pending = new PendingRequest(new InferenceRequest(Array.Empty<TensorBuffer?>(), 1), 0, queues.NextSequence());
        queues.Add(pending);
        return pending;
    }

    [Fact]
    public void EndRun_WithWorkQueued_FreesTheSlotAndWakesTheWaitingLoop()
    {
        var queues = new RequestQueues(priorityLevels: 0, defaultMaxQueueSize: 8);
        var slots = new InstanceSlots(2, queues);
        Task wake;
        lock (queues.Gate)
        {
            Assert.Equal(0, slots.TryClaimIdle());
            _ = Queued(queues);
            wake = queues.WakeTask(); // a loop found its slot busy and waits
        }
        slots.BeginRun(0);

        slots.EndRun(0);

        Assert.True(wake.IsCompleted);
        lock (queues.Gate)
        {
            Assert.False(slots.IsBusy(0));
        }
        Assert.Equal(TimeSpan.Zero, slots.LongestRun);
    }

    [Fact]
    public void EndRun_WhileStopping_WakesTheWaitingLoop()
    {
        var queues = new RequestQueues(priorityLevels: 0, defaultMaxQueueSize: 8);
        var slots = new InstanceSlots(1, queues);
        Task wake;
        lock (queues.Gate)
        {
            slots.Claim(0);
            queues.Stopping = true;
            wake = queues.WakeTask();
        }

        slots.EndRun(0);

        Assert.True(wake.IsCompleted);
    }

    [Fact]
    public void EndRun_NothingQueued_LeavesTheLoopWaiting()
    {
        var queues = new RequestQueues(priorityLevels: 0, defaultMaxQueueSize: 8);
        var slots = new InstanceSlots(1, queues);
        Task wake;
        lock (queues.Gate)
        {
            slots.Claim(0);
            wake = queues.WakeTask();
        }

        slots.EndRun(0);

        Assert.False(wake.IsCompleted);
    }

    [Fact]
    public void TryClaimIdle_EverySlotBusy_ReturnsMinusOneUntilOneIsReleased()
    {
        var queues = new RequestQueues(priorityLevels: 0, defaultMaxQueueSize: 8);
        var slots = new InstanceSlots(2, queues);
        lock (queues.Gate)
        {
            Assert.Equal(0, slots.TryClaimIdle());
            Assert.Equal(1, slots.TryClaimIdle());
            Assert.Equal(-1, slots.TryClaimIdle());
        }

        slots.EndRun(1);

        lock (queues.Gate)
        {
            Assert.Equal(1, slots.TryClaimIdle());
        }
    }

    [Fact]
    public void LongestRun_DuringARun_GrowsAndReturnsToZeroAfterIt()
    {
        var queues = new RequestQueues(priorityLevels: 0, defaultMaxQueueSize: 8);
        var slots = new InstanceSlots(1, queues);
        lock (queues.Gate)
        {
            slots.Claim(0);
        }
        slots.BeginRun(0);

        Assert.True(SpinWait.SpinUntil(() => slots.LongestRun > TimeSpan.Zero, TimeSpan.FromSeconds(5)));
        slots.EndRun(0);
        Assert.Equal(TimeSpan.Zero, slots.LongestRun);
    }
}
