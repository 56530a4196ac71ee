namespace Fabrik.Scheduling;

/// <summary>What the batcher should do now: take the first <see cref="Take"/> queued requests as
/// one batch, or (when <see cref="Take"/> is 0) wait <see cref="WaitTicks"/> for more.</summary>
internal readonly record struct BatchPlan(int Take, long WaitTicks)
{
    public static BatchPlan Wait(long ticks) => new(0, ticks);
}
