using System.Diagnostics.Metrics;
using Prometheus;

namespace Fabrik.Observability.Metrics;

/// <summary>
/// Publishes the instruments of one <see cref="FabrikMeter"/> in a prometheus-net registry, each
/// with the Prometheus type Triton gives it: counters stay counters (prometheus-net's own
/// MeterAdapter turns every .NET counter into a gauge), histograms get their buckets, and the
/// latency distributions Triton exposes as summaries become summaries. prometheus-net writes the
/// exposition (text or OpenMetrics).
/// </summary>
/// <remarks>
/// Recorded instruments (histograms) reach <see cref="OnMeasurement{T}"/> on the recording
/// thread; finding the labelled child allocates nothing and takes no lock once the series exists,
/// and the observation passes through <see cref="ScrapeGate"/> so that a scrape reads each
/// histogram's count and buckets at one instant. Observable
/// instruments are read under <see cref="_collectGate"/> just before each scrape; a series that
/// an observation no longer reports (an unloaded model, a state left) is removed then, and so are
/// the recorded series of model versions no longer served (<see cref="FabrikMeter.ServedVersions"/>).
/// </remarks>
internal sealed class PrometheusExporter : IDisposable
{
    [ThreadStatic]
    private static string[]? t_labelValues;

    private readonly FabrikMeter _meter;
    private readonly MetricsSettings _settings;
    private readonly MeterListener _listener = new();
    private readonly MetricFactory _factory;
    private readonly List<ObservedExport> _observed = [];
    private readonly List<RecordedExport> _recorded = [];
    private readonly HashSet<Instrument> _published = [];
    private readonly Lock _collectGate = new();
    private readonly ScrapeGate _scrapeGate = new();
    private readonly SemaphoreSlim _scrapeLock = new(1, 1);

    public PrometheusExporter(FabrikMeter meter, MetricsSettings settings)
    {
        _meter = meter;
        _settings = settings;
        Registry = Prometheus.Metrics.NewCustomRegistry();
        _factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        _listener.InstrumentPublished = Publish;
        meter.InstrumentAdded += instrument => Publish(instrument, _listener);
        _listener.SetMeasurementEventCallback<int>(OnMeasurement);
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.Start();
        Registry.AddBeforeCollectCallback(CollectObservedInstruments);
    }

    /// <summary>The registry <see cref="ScrapeAsync"/> serializes.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Observations parked by a scrape and not yet applied (for tests).</summary>
    internal int ParkedObservations => _scrapeGate.ParkedCount;

    public void Dispose()
    {
        _listener.Dispose();
        _scrapeLock.Dispose();
    }

    /// <summary>Serializes the registry in <paramref name="format"/>, with every histogram read at one
    /// instant (<see cref="ScrapeGate"/>). The text is written to memory while the gate is closed,
    /// so a slow client holds up neither recording threads nor other scrapes.</summary>
    public async Task<MemoryStream> ScrapeAsync(ExpositionFormat format, CancellationToken cancellation)
    {
        var text = new MemoryStream();
        await _scrapeLock.WaitAsync(cancellation);
        try
        {
            _scrapeGate.Close();
            try
            {
                // A MemoryStream completes every write synchronously: the gate stays closed for
                // the time it takes to format the text, not to send it.
                await Registry.CollectAndExportAsTextAsync(text, format, CancellationToken.None);
            }
            finally
            {
                _scrapeGate.Open();
            }
        }
        finally
        {
            _scrapeLock.Release();
        }
        text.Position = 0;
        return text;
    }

    private void Publish(Instrument instrument, MeterListener listener)
    {
        if (instrument.Meter != _meter.Meter || _meter.ShapeOf(instrument) is not { } shape)
        {
            return; // not ours, or not added yet (then InstrumentAdded brings it back)
        }
        lock (_collectGate)
        {
            if (!_published.Add(instrument))
            {
                return;
            }
        }
        var labels = shape.LabelNames.ToArray();
        var help = instrument.Description ?? "";
        Export export = instrument switch
        {
            ObservableCounter<long> or ObservableCounter<double> => new CounterExport(_factory.CreateCounter(instrument.Name, help, labels,
                new CounterConfiguration { ExemplarBehavior = ExemplarBehavior.NoExemplars() })),
            ObservableGauge<int> or ObservableGauge<long> or ObservableGauge<double> => new GaugeExport(_factory.CreateGauge(instrument.Name, help, labels)),
            Histogram<int> or Histogram<long> or Histogram<double> when shape.Summary => new SummaryExport(_factory.CreateSummary(instrument.Name, help, labels, new SummaryConfiguration
            {
                Objectives = _settings.SummaryQuantiles.Select(q => new QuantileEpsilonPair(q.Quantile, q.Error)).ToArray(),
                MaxAge = TimeSpan.FromMinutes(1), // prometheus-cpp's default, as in Triton
                AgeBuckets = 5,
            })),
            Histogram<int> or Histogram<long> or Histogram<double> => new HistogramExport(_scrapeGate, _factory.CreateHistogram(instrument.Name, help, labels, new HistogramConfiguration
            {
                Buckets = shape.Buckets.ToArray(),
                // prometheus-net would otherwise attach the current Activity's trace id to every
                // observation (ASP.NET Core starts one per request): a string and a lock per record.
                ExemplarBehavior = ExemplarBehavior.NoExemplars(),
            })),
            _ => throw new NotSupportedException($"instrument {instrument.Name} has a kind the exporter does not map"),
        };
        export.LabelNames = labels;
        lock (_collectGate)
        {
            switch (export)
            {
                case ObservedExport observed:
                    _observed.Add(observed);
                    break;
                case RecordedExport recorded:
                    _recorded.Add(recorded);
                    break;
            }
        }
        listener.EnableMeasurementEvents(instrument, export);
    }

    private static void OnMeasurement<T>(Instrument instrument, T measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        where T : struct
    {
        var export = (Export)state!;
        var names = export.LabelNames;
        var values = t_labelValues ??= new string[8];
        if (names.Length > values.Length)
        {
            values = t_labelValues = new string[names.Length];
        }
        for (var i = 0; i < names.Length; i++)
        {
            values[i] = "";
            foreach (var tag in tags)
            {
                if (string.Equals(tag.Key, names[i], StringComparison.Ordinal))
                {
                    values[i] = tag.Value as string ?? "";
                    break;
                }
            }
        }
        var value = measurement switch
        {
            int x => x,
            long x => x,
            double x => x,
            _ => 0d,
        };
        export.Record(value, values.AsSpan(0, names.Length));
    }

    private void CollectObservedInstruments()
    {
        lock (_collectGate)
        {
            foreach (var export in _observed)
            {
                export.BeginRound();
            }
            _listener.RecordObservableInstruments();
            foreach (var export in _observed)
            {
                export.EndRound();
            }
            if (_meter.ServedVersions is { } servedVersions)
            {
                var served = servedVersions().Select(served => SeriesKey(served.Model, served.Version)).ToHashSet(StringComparer.Ordinal);
                foreach (var export in _recorded)
                {
                    export.KeepServedVersions(served);
                }
            }
        }
    }

    private static string SeriesKey(string model, string version) => string.Concat(model, "\u0001", version);

    private abstract class Export
    {
        public string[] LabelNames { get; set; } = [];

        public abstract void Record(double value, ReadOnlySpan<string> labelValues);
    }

    /// <summary>An observable instrument: each scrape reports every series afresh.</summary>
    private abstract class ObservedExport : Export
    {
        protected HashSet<string> Seen { get; } = new(StringComparer.Ordinal);

        public void BeginRound() => Seen.Clear();

        public override void Record(double value, ReadOnlySpan<string> labelValues)
        {
            Seen.Add(string.Join('\u0001', labelValues!));
            Set(value, labelValues);
        }

        /// <summary>Removes the series this round did not report.</summary>
        public abstract void EndRound();

        protected abstract void Set(double value, ReadOnlySpan<string> labelValues);
    }

    private abstract class ObservedExport<TChild>(Collector<TChild> collector) : ObservedExport
        where TChild : ChildBase
    {
        public override void EndRound()
        {
            foreach (var labels in collector.GetAllLabelValues().ToList())
            {
                if (!Seen.Contains(string.Join('\u0001', labels)))
                {
                    collector.RemoveLabelled(labels);
                }
            }
        }
    }

    private sealed class CounterExport(Counter counter) : ObservedExport<Counter.Child>(counter)
    {
        protected override void Set(double value, ReadOnlySpan<string> labelValues) => counter.WithLabels(labelValues).IncTo(value);
    }

    private sealed class GaugeExport(Gauge gauge) : ObservedExport<Gauge.Child>(gauge)
    {
        protected override void Set(double value, ReadOnlySpan<string> labelValues) => gauge.WithLabels(labelValues).Set(value);
    }

    /// <summary>An instrument recorded on the request path, whose series stay until their model
    /// version is no longer served.</summary>
    private abstract class RecordedExport : Export
    {
        /// <summary>Removes the series labelled with a model version not in <paramref name="served"/>
        /// (keys from <see cref="SeriesKey"/>). Called under the collect gate.</summary>
        public abstract void KeepServedVersions(HashSet<string> served);
    }

    /// <summary>Each model version passes the same label strings every time, so its child is found
    /// by reference comparison over a short array, without prometheus-net's hashing and lock; other
    /// values go through WithLabels. A request that read the cache just before its version's series
    /// was removed may record into the removed child and be lost: only versions no longer served
    /// (a draining unload, a warm-up before the version is published) are removed.</summary>
    private abstract class RecordedExport<TChild>(Collector<TChild> collector) : RecordedExport
        where TChild : ChildBase
    {
        private const int MaximumCached = 64;
        private readonly Lock _gate = new();
        private volatile (string[] Values, TChild Child)[] _cached = [];

        public override void KeepServedVersions(HashSet<string> served)
        {
            var model = Array.IndexOf(LabelNames, "model");
            var version = Array.IndexOf(LabelNames, "version");
            if (model < 0 || version < 0)
            {
                return;
            }
            foreach (var labels in collector.GetAllLabelValues().ToList())
            {
                if (served.Contains(SeriesKey(labels[model], labels[version])))
                {
                    continue;
                }
                lock (_gate)
                {
                    _cached = [.. _cached.Where(entry => entry.Values[model] != labels[model] || entry.Values[version] != labels[version])];
                    collector.RemoveLabelled(labels);
                }
            }
        }

        protected TChild Child(ReadOnlySpan<string> labelValues)
        {
            foreach (var (values, child) in _cached)
            {
                if (SameReferences(values, labelValues))
                {
                    return child;
                }
            }
            if (_cached.Length >= MaximumCached)
            {
                return collector.WithLabels(labelValues);
            }
            // Found and cached under the gate that removal holds too, so a removed child is never
            // left in the cache (where a later request would record into it, unseen).
            lock (_gate)
            {
                var found = collector.WithLabels(labelValues);
                if (_cached.Length < MaximumCached)
                {
                    _cached = [.. _cached, (labelValues.ToArray(), found)];
                }
                return found;
            }
        }

        private static bool SameReferences(string[] cached, ReadOnlySpan<string> values)
        {
            for (var i = 0; i < values.Length; i++)
            {
                if (!ReferenceEquals(cached[i], values[i]))
                {
                    return false;
                }
            }
            return true;
        }
    }

    private sealed class HistogramExport(ScrapeGate gate, Histogram histogram) : RecordedExport<Histogram.Child>(histogram)
    {
        public override void Record(double value, ReadOnlySpan<string> labelValues) => gate.Observe(Child(labelValues), value);
    }

    private sealed class SummaryExport(Summary summary) : RecordedExport<Summary.Child>(summary)
    {
        public override void Record(double value, ReadOnlySpan<string> labelValues) => Child(labelValues).Observe(value);
    }
}
