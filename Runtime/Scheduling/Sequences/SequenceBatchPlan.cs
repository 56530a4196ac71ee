namespace Fabrik.Scheduling.Sequences;

/// <summary>The planner's answer for one instance: run a batch of <see cref="Rows"/> rows now (the
/// slots that take part are in the list the planner was given), or, when <see cref="Rows"/> is 0,
/// wait <see cref="WaitTicks"/> (long.MaxValue: until something arrives).</summary>
internal readonly record struct SequenceBatchPlan(int Rows, long WaitTicks)
{
    public static SequenceBatchPlan Wait(long ticks) => new(0, ticks);
}
