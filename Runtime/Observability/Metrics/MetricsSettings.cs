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

    /// <summary>--metrics-config summary_quantiles=q:e,q:e,...</summary>
    public ImmutableArray<(double Quantile, double Error)> SummaryQuantiles { get; init; } = DefaultQuantiles;

    /// <summary>--metrics-config histogram_buckets=s,s,... (seconds, ascending) for the
    /// fabrik_*_seconds histograms.</summary>
    public ImmutableArray<double> LatencyBuckets { get; init; } = DefaultLatencyBuckets;

    /// <summary>Applies one --metrics-config <c>key=value</c>.</summary>
    /// <exception cref="ArgumentException">An unknown key or a bad value; the message says which.</exception>
    public MetricsSettings WithConfig(string setting)
    {
        var equals = setting.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw new ArgumentException($"option --metrics-config takes key=value, got '{setting}'");
        }
        var key = setting[..equals];
        var value = setting[(equals + 1)..].Trim('"');
        return key switch
        {
            "counter_latencies" => this with { CounterLatencies = Boolean(key, value) },
            "summary_latencies" => this with { SummaryLatencies = Boolean(key, value) },
            "summary_quantiles" => this with { SummaryQuantiles = Quantiles(value) },
            "histogram_buckets" => this with { LatencyBuckets = Buckets(value) },
            _ => throw new ArgumentException(
                $"option --metrics-config: unknown key '{key}' (known: counter_latencies, summary_latencies, summary_quantiles, histogram_buckets)"),
        };
    }

    private static bool Boolean(string key, string value) => value switch
    {
        "true" => true,
        "false" => false,
        _ => throw new ArgumentException($"option --metrics-config {key} takes true or false, got '{value}'"),
    };

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

    private static ImmutableArray<(double, double)> Quantiles(string value) =>
        value.Split(',', StringSplitOptions.TrimEntries).Select(pair =>
        {
            var parts = pair.Split(':');
            return parts.Length == 2
                && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var quantile) && quantile is > 0 and < 1
                && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var error) && error is >= 0 and < 1
                ? (quantile, error)
                : throw new ArgumentException($"option --metrics-config summary_quantiles takes <quantile>:<error> pairs in (0, 1), got '{pair}'");
        }).ToImmutableArray();
}
