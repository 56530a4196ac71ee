using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Fabrik.Observability.Metrics;

/// <summary>Receives the durations a <see cref="StatisticDuration"/> records: into a histogram in
/// seconds and, when they are on, Triton's summary in microseconds and Triton's histogram in
/// milliseconds.</summary>
internal sealed class LatencyObserver(Histogram<double>? seconds, Histogram<double>? summaryMicroseconds,
    KeyValuePair<string, object?> model, KeyValuePair<string, object?> version, Histogram<double>? histogramMilliseconds = null)
{
    public static LatencyObserver? SummaryOnly(Histogram<double>? summaryMicroseconds, KeyValuePair<string, object?> model, KeyValuePair<string, object?> version) =>
        summaryMicroseconds is null ? null : new LatencyObserver(null, summaryMicroseconds, model, version);

    /// <summary><paramref name="occurrences"/> requests that each took <paramref name="stopwatchTicks"/>.</summary>
    public void Observe(long stopwatchTicks, long occurrences)
    {
        var secondsValue = stopwatchTicks / (double)Stopwatch.Frequency;
        for (long i = 0; i < occurrences; i++)
        {
            seconds?.Record(secondsValue, model, version);
            summaryMicroseconds?.Record(secondsValue * 1e6, model, version);
            histogramMilliseconds?.Record(secondsValue * 1e3, model, version);
        }
    }
}
