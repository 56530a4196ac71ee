namespace Fabrik.Tests.Support;

/// <summary>The text expositions <see cref="ExpositionParser"/> reads.</summary>
public enum ExpositionFormat
{
    /// <summary>Prometheus text format 0.0.4 (<c>text/plain; version=0.0.4</c>).</summary>
    PrometheusText,

    /// <summary>OpenMetrics 1.0 text (<c>application/openmetrics-text; version=1.0.0</c>).</summary>
    OpenMetrics,
}
