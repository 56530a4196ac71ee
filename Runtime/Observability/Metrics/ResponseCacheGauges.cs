namespace Fabrik.Observability.Metrics;

/// <summary>
/// The gauges Triton's local response cache reports for the whole cache (its <c>nv_cache_*</c>
/// families, without labels, typed gauge as Triton types them even where they only grow). Added
/// only when the server has a response cache; read when the endpoint is scraped.
/// </summary>
internal static class ResponseCacheGauges
{
    /// <summary>The families' names, for tests and the docs.</summary>
    public static readonly IReadOnlyList<string> Names =
    [
        "nv_cache_num_entries", "nv_cache_num_lookups", "nv_cache_num_hits", "nv_cache_num_misses", "nv_cache_num_evictions",
        "nv_cache_lookup_duration", "nv_cache_insertion_duration", "nv_cache_util",
    ];

    /// <summary>Adds the gauges to <paramref name="meter"/>, each reading <paramref name="counters"/>.</summary>
    public static void Add(FabrikMeter meter, Func<ResponseCacheCounters> counters)
    {
        var api = meter.Meter;
        var unlabelled = new InstrumentShape([]);
        Gauge("nv_cache_num_entries", "Number of responses stored in response cache", c => c.Entries);
        Gauge("nv_cache_num_lookups", "Number of cache lookups in response cache", c => c.Lookups);
        Gauge("nv_cache_num_hits", "Number of cache hits in response cache", c => c.Hits);
        Gauge("nv_cache_num_misses", "Number of cache misses in response cache", c => c.Misses);
        Gauge("nv_cache_num_evictions", "Number of cache evictions in response cache", c => c.Evictions);
        Gauge("nv_cache_lookup_duration", "Total cache lookup duration (hit and miss), in microseconds", c => c.LookupMicroseconds);
        Gauge("nv_cache_insertion_duration", "Total cache insertion duration, in microseconds", c => c.InsertionMicroseconds);
        Gauge("nv_cache_util", "Cache utilization [0.0 - 1.0]", c => c.Utilization);

        void Gauge(string name, string help, Func<ResponseCacheCounters, double> value) =>
            meter.Add(api.CreateObservableGauge(name, () => value(counters()), description: help), unlabelled);
    }
}
