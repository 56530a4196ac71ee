using System.Collections.Immutable;
using System.Globalization;

namespace Fabrik.Observability.Metrics;

/// <summary>What the metrics endpoint exports, from --allow-gpu-metrics, --allow-cpu-metrics,
/// --metrics-interval-ms and --metrics-config (tritonserver's flags).</summary>
internal sealed record MetricsSettings
{
    /// <summary>Prometheus' default buckets, shifted down two decades: inference latencies live
    /// between 100 µs and a few seconds.</summary>
    public static readonly ImmutableArray<double> DefaultLatencyBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Batch sizes: powers of two, which is how max_batch_size is usually chosen.</summary>
    public static readonly ImmutableArray<double> BatchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

    /// <summary>Triton's default buckets of nv_inference_first_response_histogram_ms, in
    /// milliseconds (core's MetricReporterConfig).</summary>
    public static readonly ImmutableArray<double> FirstResponseBuckets = [100, 500, 2000, 5000];

    /// <summary>Triton's default summary quantiles and their allowed errors.</summary>
    public static readonly ImmutableArray<(double Quantile, double Error)> DefaultQuantiles =
        [(0.5, 0.05), (0.9, 0.01), (0.95, 0.001), (0.99, 0.001), (0.999, 0.001)];

    /// <summary>--allow-gpu-metrics.</summary>
    public bool GpuMetrics { get; init; } = true;

    /// <summary>--allow-cpu-metrics.</summary>
    public bool CpuMetrics { get; init; } = true;

    /// <summary>--metrics-interval-ms: how often GPU and CPU figures are sampled.</summary>
    public int IntervalMilliseconds { get; init; } = 2000;

    /// <summary>--metrics-config counter_latencies (default true): the nv_*_duration_us counters.</summary>
    public bool CounterLatencies { get; init; } = true;

    /// <summary>--metrics-config summary_latencies (default false): the nv_*_summary_us summaries.</summary>
    public bool SummaryLatencies { get; init; }

    /// <summary>--metrics-config histogram_latencies (default false): Triton's
    /// nv_inference_first_response_histogram_ms.</summary>
    public bool HistogramLatencies { get; init; }

    /// <summary>--metrics-config summary_quantiles=q:e,q:e,...</summary>
    public ImmutableArray<(double Quantile, double Error)> SummaryQuantiles { get; init; } = DefaultQuantiles;

    /// <summary>--metrics-config histogram_buckets=s,s,... (seconds, ascending) for the
    /// fabrik_*_seconds histograms.</summary>
    public ImmutableArray<double> LatencyBuckets { get; init; } = DefaultLatencyBuckets;

    /// <summary>Applies one --metrics-config <c>key=value</c>. Triton reads any key, ignores
    /// those it does not use, and keeps a latency family's default when the value is not the one
    /// that changes it; so a Triton command line always starts Fabrik: a key or value that is not
    /// understood leaves the settings as they were and comes back as <paramref name="warning"/>
    /// (logged at start). Only Fabrik's own histogram_buckets, and a setting that is not
    /// <c>key=value</c> at all (which Triton refuses too), fail.</summary>
    /// <exception cref="ArgumentException">Not key=value, or bad histogram_buckets; the message says which.</exception>
    public MetricsSettings WithConfig(string setting, out string? warning)
    {
        var equals = setting.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0 || equals == setting.Length - 1)
        {
            throw new ArgumentException($"option --metrics-config takes key=value, got '{setting}'");
        }
        var key = setting[..equals];
        var value = setting[(equals + 1)..].Trim('"');
        warning = null;
        switch (key)
        {
            case "counter_latencies":
                return Boolean(key, value, CounterLatencies, out warning) is { } counters ? this with { CounterLatencies = counters } : this;
            case "histogram_latencies":
                return Boolean(key, value, HistogramLatencies, out warning) is { } histograms ? this with { HistogramLatencies = histograms } : this;
            case "summary_latencies":
                return Boolean(key, value, SummaryLatencies, out warning) is { } summaries ? this with { SummaryLatencies = summaries } : this;
            case "summary_quantiles":
                var (quantiles, refused) = Quantiles(value);
                if (refused.Count > 0)
                {
                    warning = $"--metrics-config summary_quantiles: ignored {string.Join(", ", refused.Select(pair => $"'{pair}'"))} "
                        + "(each pair is <quantile>:<error>, both in (0, 1))"
                        + (quantiles.IsEmpty ? "; the default quantiles stay" : "");
                }
                return quantiles.IsEmpty ? this : this with { SummaryQuantiles = quantiles };
            case "histogram_buckets":
                return this with { LatencyBuckets = Buckets(value) };
            default:
                warning = $"--metrics-config {key} has no effect here: not a key Fabrik knows "
                    + "(counter_latencies, histogram_latencies, summary_latencies, summary_quantiles, histogram_buckets)";
                return this;
        }
    }

    /// <summary>The value of a true/false key, or null (with a warning) for anything else, which
    /// leaves <paramref name="current"/> as it is.</summary>
    private static bool? Boolean(string key, string value, bool current, out string? warning)
    {
        warning = null;
        switch (value)
        {
            case "true":
                return true;
            case "false":
                return false;
            default:
                warning = $"--metrics-config {key} takes true or false, got '{value}'; it stays {(current ? "true" : "false")}";
                return null;
        }
    }

    private static ImmutableArray<double> Buckets(string value)
    {
        var buckets = value.Split(',', StringSplitOptions.TrimEntries).Select(text =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var bound) && double.IsFinite(bound) && bound > 0
                ? bound
                : throw new ArgumentException($"option --metrics-config histogram_buckets takes positive numbers of seconds, got '{text}'"))
            .ToImmutableArray();
        for (var i = 1; i < buckets.Length; i++)
        {
            if (buckets[i] <= buckets[i - 1])
            {
                throw new ArgumentException($"option --metrics-config histogram_buckets must ascend, got '{value}'");
            }
        }
        return buckets;
    }

    /// <summary>The <c>quantile:error</c> pairs that parse, in increasing order of quantile (the
    /// first of a repeated one), and the ones that do not (Triton logs and skips those).</summary>
    private static (ImmutableArray<(double Quantile, double Error)> Quantiles, List<string> Refused) Quantiles(string value)
    {
        var quantiles = ImmutableArray.CreateBuilder<(double, double)>();
        var refused = new List<string>();
        foreach (var pair in value.Split(',', StringSplitOptions.TrimEntries))
        {
            var parts = pair.Split(':');
            if (parts.Length == 2
                && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var quantile) && quantile is > 0 and < 1
                && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var error) && error is >= 0 and < 1)
            {
                quantiles.Add((quantile, error));
            }
            else
            {
                refused.Add(pair);
            }
        }
        // In increasing order, each once: the text format lists a summary's quantiles so.
        return ([.. quantiles.DistinctBy(q => q.Item1).OrderBy(q => q.Item1)], refused);
    }
}
