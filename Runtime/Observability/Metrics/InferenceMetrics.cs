using System.Diagnostics.Metrics;

namespace Fabrik.Observability.Metrics;

/// <summary>
/// The per-model metrics: Triton's counters and gauges, observed from the statistics extension's
/// counters when the endpoint is scraped (so requests pay nothing for them), and the histograms
/// (with histogram_latencies Triton's first-response histogram, with summary_latencies Triton's
/// summaries) that requests record as they finish.
/// </summary>
/// <remarks>The model and state sources are set once by the host before the first scrape.</remarks>
internal sealed class InferenceMetrics
{
    private static readonly string[] FailureReasonLabels = ["REJECTED", "CANCELED", "BACKEND", "OTHER"];
    private readonly Histogram<double> _requestSeconds;
    private readonly Histogram<double> _queueSeconds;
    private readonly Histogram<double> _computeSeconds;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double>? _firstResponseMilliseconds;
    private readonly Histogram<double>? _requestSummary;
    private readonly Histogram<double>? _queueSummary;
    private readonly Histogram<double>? _computeInputSummary;
    private readonly Histogram<double>? _computeInferSummary;
    private readonly Histogram<double>? _computeOutputSummary;
    private readonly FabrikMeter _meter;
    private volatile Func<IEnumerable<ModelSeries>> _models = () => [];
    private volatile Func<IEnumerable<ModelStateSeries>> _states = () => [];

    /// <param name="meter">Where the instruments are created.</param>
    /// <param name="settings">Which latency families to export.</param>
    /// <param name="responseCache">True when the server has a response cache: Triton's per-model
    /// cache families are exported (for the versions whose responses are cached).</param>
    public InferenceMetrics(FabrikMeter meter, MetricsSettings settings, bool responseCache = false)
    {
        _meter = meter;
        var model = new InstrumentShape(FabrikMeter.ModelLabels);
        var meterApi = meter.Meter;
        Counter("nv_inference_request_success", "Number of successful inference requests, all batch sizes", s => s.Success.Count);
        meter.Add(
            meterApi.CreateObservableCounter("nv_inference_request_failure", ObserveFailures, description: "Number of failed inference requests, all batch sizes"),
            new InstrumentShape(["model", "reason", "version"]));
        Counter("nv_inference_count", "Number of inferences performed (does not include cached requests)", s => s.InferenceCount);
        Counter("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)", s => s.ExecutionCount);
        // Triton's per-model cache families, on the versions whose responses are cached.
        CacheCounter("nv_cache_num_hits_per_model", "Number of cache hits per model", s => s.CacheHit.Count);
        CacheCounter("nv_cache_num_misses_per_model", "Number of cache misses per model", s => s.CacheMiss.Count);
        if (settings.CounterLatencies)
        {
            Counter("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds (includes cached requests)", s => s.Success.Nanoseconds / 1000);
            Counter("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds (includes cached requests)", s => s.Queue.Nanoseconds / 1000);
            Counter("nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds (does not include cached requests)", s => s.ComputeInput.Nanoseconds / 1000);
            Counter("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds (does not include cached requests)", s => s.ComputeInfer.Nanoseconds / 1000);
            Counter("nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds (does not include cached requests)", s => s.ComputeOutput.Nanoseconds / 1000);
            CacheCounter("nv_cache_hit_duration_per_model", "Total cache hit duration per model, in microseconds", s => s.CacheHit.Nanoseconds / 1000);
            CacheCounter("nv_cache_miss_duration_per_model", "Total cache miss (insert+lookup) duration per model, in microseconds", s => s.CacheMiss.Nanoseconds / 1000);
        }
        meter.Add(
            meterApi.CreateObservableGauge("nv_inference_pending_request_count", () => PerModel(s => s.PendingRequests?.Invoke() ?? 0),
                description: "Instantaneous number of pending requests awaiting execution per-model."),
            model);
        meter.Add(
            meterApi.CreateObservableGauge("fabrik_model_state", ObserveStates,
                description: "1 for each model version and the lifecycle state it is in (LOADING, READY, UNLOADING, UNAVAILABLE)"),
            new InstrumentShape(["model", "state", "version"]));

        var latency = model with { Buckets = settings.LatencyBuckets };
        _requestSeconds = meter.Add(
            meterApi.CreateHistogram<double>("fabrik_inference_request_duration_seconds", description: "End-to-end duration of successful inference requests, from receipt to response, in seconds"),
            latency);
        _queueSeconds = meter.Add(
            meterApi.CreateHistogram<double>("fabrik_inference_queue_duration_seconds", description: "Time requests waited in the model's queue, in seconds"),
            latency);
        _computeSeconds = meter.Add(
            meterApi.CreateHistogram<double>("fabrik_inference_compute_duration_seconds", description: "Compute time (input, inference and output) of the execution each request ran in, in seconds"),
            latency);
        _batchSize = meter.Add(
            meterApi.CreateHistogram<int>("fabrik_inference_batch_size", description: "Batch sizes the model executed (rows per execution)"),
            model with { Buckets = MetricsSettings.BatchSizeBuckets });

        if (settings.HistogramLatencies)
        {
            // Triton's family and default buckets (core's metrics.cc and MetricReporterConfig). A
            // request here has one response, so its first response is its end-to-end time.
            _firstResponseMilliseconds = meter.Add(
                meterApi.CreateHistogram<double>("nv_inference_first_response_histogram_ms", description: "Duration from request to first response in milliseconds"),
                model with { Buckets = MetricsSettings.FirstResponseBuckets });
        }

        if (settings.SummaryLatencies)
        {
            var summary = model with { Summary = true };
            _requestSummary = meter.Add(meterApi.CreateHistogram<double>("nv_inference_request_summary_us", description: "Summary of inference request duration in microseconds (includes cached requests)"), summary);
            _queueSummary = meter.Add(meterApi.CreateHistogram<double>("nv_inference_queue_summary_us", description: "Summary of inference queuing duration in microseconds (includes cached requests)"), summary);
            _computeInputSummary = meter.Add(meterApi.CreateHistogram<double>("nv_inference_compute_input_summary_us", description: "Cumulative compute input duration in microseconds (does not include cached requests)"), summary);
            _computeInferSummary = meter.Add(meterApi.CreateHistogram<double>("nv_inference_compute_infer_summary_us", description: "Cumulative compute inference duration in microseconds (does not include cached requests)"), summary);
            _computeOutputSummary = meter.Add(meterApi.CreateHistogram<double>("nv_inference_compute_output_summary_us", description: "Cumulative inference compute output duration in microseconds (does not include cached requests)"), summary);
        }

        void Counter(string name, string help, Func<ModelStatistics, long> value) =>
            meter.Add(meterApi.CreateObservableCounter(name, () => PerModel(value), description: help), model);

        void CacheCounter(string name, string help, Func<ModelStatistics, long> value)
        {
            if (responseCache)
            {
                meter.Add(meterApi.CreateObservableCounter(name, () => PerModel(value, cachedOnly: true), description: help), model);
            }
        }
    }

    /// <summary>Sets where the served model versions and the lifecycle states come from. The served
    /// versions are also the ones whose histograms stay on the endpoint.</summary>
    public void Observe(Func<IEnumerable<ModelSeries>> models, Func<IEnumerable<ModelStateSeries>> states)
    {
        _models = models;
        _states = states;
        _meter.ServedVersions = () => models().Select(series => (series.Model, series.Version));
    }

    /// <summary>The instruments one model version records into, labelled with its name and version.</summary>
    public ModelInstruments ForModel(string model, string version) => new(this, model, version);

    private IEnumerable<Measurement<long>> PerModel(Func<ModelStatistics, long> value, bool cachedOnly = false) =>
        _models().Where(series => !cachedOnly || series.Statistics.CachesResponses)
            .Select(series => new Measurement<long>(value(series.Statistics), Tag("model", series.Model), Tag("version", series.Version)));

    private IEnumerable<Measurement<long>> ObserveFailures()
    {
        foreach (var series in _models())
        {
            for (var reason = 0; reason < FailureReasonLabels.Length; reason++)
            {
                yield return new Measurement<long>(series.Statistics.Failures((FailureReason)reason),
                    Tag("model", series.Model), Tag("reason", FailureReasonLabels[reason]), Tag("version", series.Version));
            }
        }
    }

    private IEnumerable<Measurement<int>> ObserveStates() =>
        _states().Select(series => new Measurement<int>(1, Tag("model", series.Model), Tag("state", series.State), Tag("version", series.Version)));

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    internal Histogram<double> RequestSeconds => _requestSeconds;

    internal Histogram<double> QueueSeconds => _queueSeconds;

    internal Histogram<double> ComputeSeconds => _computeSeconds;

    internal Histogram<int> BatchSize => _batchSize;

    internal Histogram<double>? FirstResponseMilliseconds => _firstResponseMilliseconds;

    internal Histogram<double>? RequestSummary => _requestSummary;

    internal Histogram<double>? QueueSummary => _queueSummary;

    internal Histogram<double>? ComputeInputSummary => _computeInputSummary;

    internal Histogram<double>? ComputeInferSummary => _computeInferSummary;

    internal Histogram<double>? ComputeOutputSummary => _computeOutputSummary;
}
