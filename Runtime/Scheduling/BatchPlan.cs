namespace Fabrik.Scheduling;

/// <summary>What the batcher should do now: take the first <see cref="Take"/> queued requests as
/// one batch, or (when <see cref="Take"/> is 0) wait <see cref="WaitTicks"/> for more.
/// <see cref="Full"/> says that the batch to take cannot usefully grow: it holds max_batch_size
/// rows or a preferred batch size, the next request cannot join it, or the model does not batch.</summary>
internal readonly record struct BatchPlan(int Take, long WaitTicks, bool Full = false)
{
    public static BatchPlan Wait(long ticks) => new(0, ticks);
}
