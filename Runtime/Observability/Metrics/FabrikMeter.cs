using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.Metrics;

namespace Fabrik.Observability.Metrics;

/// <summary>
/// One server's <see cref="System.Diagnostics.Metrics.Meter"/> and the export shape of each of
/// its instruments. Each server owns its own meter, so two servers in one process (as in the
/// tests) never see each other's measurements.
/// </summary>
/// <remarks>Thread-safe: instruments are added at start-up and read by the exporter.</remarks>
internal sealed class FabrikMeter : IDisposable
{
    /// <summary>The meter's name, for dotnet-counters and OpenTelemetry listeners.</summary>
    public const string Name = "Fabrik";

    public static readonly ImmutableArray<string> ModelLabels = ["model", "version"];

    private readonly ConcurrentDictionary<Instrument, InstrumentShape> _shapes = new();

    public Meter Meter { get; } = new(Name);

    /// <summary>The model versions served now, as (model, version) label values: the exporter
    /// removes the recorded series (histograms, summaries) of any other version at each scrape, so
    /// an unloaded version leaves the endpoint. Null until the host says what is served.</summary>
    public Func<IEnumerable<(string Model, string Version)>>? ServedVersions { get; set; }

    /// <summary>Raised after <see cref="Add{T}"/>: an exporter started before the instrument
    /// was created learns its shape here.</summary>
    public event Action<Instrument>? InstrumentAdded;

    /// <summary>Records how <paramref name="instrument"/> is exported, and returns it.</summary>
    public T Add<T>(T instrument, InstrumentShape shape)
        where T : Instrument
    {
        _shapes[instrument] = shape;
        InstrumentAdded?.Invoke(instrument);
        return instrument;
    }

    /// <summary>The export shape of <paramref name="instrument"/>, or null for one this class did
    /// not add.</summary>
    public InstrumentShape? ShapeOf(Instrument instrument) => _shapes.GetValueOrDefault(instrument);

    public void Dispose() => Meter.Dispose();
}
