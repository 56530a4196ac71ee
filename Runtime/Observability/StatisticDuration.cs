using Fabrik.Observability.Metrics;

namespace Fabrik.Observability;

/// <summary>A cumulative count and duration, as Triton's StatisticDuration.</summary>
/// <remarks>Updated with Interlocked from any thread. A reader may see the count and the time
/// from slightly different moments, as with Triton's own counters.</remarks>
internal sealed class StatisticDuration(LatencyObserver? observer = null)
{
    private long _count;
    private long _nanoseconds;

    public long Count => Interlocked.Read(ref _count);

    public long Nanoseconds => Interlocked.Read(ref _nanoseconds);

    public void Record(long stopwatchTicks, long occurrences = 1)
    {
        Interlocked.Add(ref _count, occurrences);
        Interlocked.Add(ref _nanoseconds, ModelStatistics.ToNanoseconds(stopwatchTicks) * occurrences);
        observer?.Observe(stopwatchTicks, occurrences);
    }
}
