using System.Collections.Immutable;

namespace Fabrik.Observability.Metrics;

/// <summary>How an instrument appears on the metrics endpoint: its label names (in the order
/// Prometheus prints them) and, for histograms, its buckets or that it is a summary.</summary>
internal sealed record InstrumentShape(ImmutableArray<string> LabelNames)
{
    /// <summary>Histogram bucket bounds; default for instruments that are not histograms.</summary>
    public ImmutableArray<double> Buckets { get; init; }

    /// <summary>Exported as a Prometheus summary (quantiles over a sliding window) rather than a
    /// histogram.</summary>
    public bool Summary { get; init; }
}
