using System.Globalization;

namespace Fabrik.Observability.Tracing;

/// <summary>What may change at run time through /v2/trace/setting: the level and the rate.
/// Deliberately nothing else; the exporter's URL and any file path are fixed at start-up.</summary>
/// <param name="Level">OFF or TIMESTAMPS.</param>
/// <param name="Rate">One request in <paramref name="Rate"/> is traced.</param>
internal sealed record TraceRuntimeSettings(TraceLevel Level, int Rate)
{
    public static string LevelName(TraceLevel level) => level == TraceLevel.Off ? "OFF" : "TIMESTAMPS";

    public static TraceLevel ParseLevel(string text) => text.ToUpperInvariant() switch
    {
        "OFF" => TraceLevel.Off,
        "TIMESTAMPS" => TraceLevel.Timestamps,
        _ => throw new ArgumentException($"trace level takes OFF or TIMESTAMPS, got '{text}'"),
    };

    public static int ParseRate(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var rate) && rate >= 1
            ? rate
            : throw new ArgumentException($"trace rate takes an integer of at least 1, got '{text}'");
}
