namespace Fabrik.Tests.Support;

/// <summary>One sample of a parsed exposition, named as the text names it (a 0.0.4 counter's
/// sample carries the family's name; an OpenMetrics counter's, the name with <c>_total</c>).</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    /// <summary>The sample's timestamp as written (milliseconds in 0.0.4, seconds in
    /// OpenMetrics), or null.</summary>
    public double? Timestamp { get; init; }
}
