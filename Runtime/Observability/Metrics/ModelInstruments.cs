using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Fabrik.Observability.Metrics;

/// <summary>The histograms and summaries of one model version, with its labels built once.</summary>
internal sealed class ModelInstruments
{
    private readonly KeyValuePair<string, object?> _model;
    private readonly KeyValuePair<string, object?> _version;
    private readonly Histogram<double> _computeSeconds;
    private readonly Histogram<int> _batchSize;

    public ModelInstruments(InferenceMetrics metrics, string model, string version)
    {
        _model = new("model", model);
        _version = new("version", version);
        _computeSeconds = metrics.ComputeSeconds;
        _batchSize = metrics.BatchSize;
        Request = new LatencyObserver(metrics.RequestSeconds, metrics.RequestSummary, _model, _version, metrics.FirstResponseMilliseconds);
        Queue = new LatencyObserver(metrics.QueueSeconds, metrics.QueueSummary, _model, _version);
        ComputeInput = LatencyObserver.SummaryOnly(metrics.ComputeInputSummary, _model, _version);
        ComputeInfer = LatencyObserver.SummaryOnly(metrics.ComputeInferSummary, _model, _version);
        ComputeOutput = LatencyObserver.SummaryOnly(metrics.ComputeOutputSummary, _model, _version);
    }

    /// <summary>Successful requests, from receipt to response (also Triton's first-response
    /// histogram when it is on).</summary>
    public LatencyObserver Request { get; }

    public LatencyObserver Queue { get; }

    /// <summary>Null unless summaries are on: the compute phases have no histogram of their own.</summary>
    public LatencyObserver? ComputeInput { get; }

    public LatencyObserver? ComputeInfer { get; }

    public LatencyObserver? ComputeOutput { get; }

    /// <summary>One execution of <paramref name="batchSize"/> rows made of
    /// <paramref name="requestCount"/> requests, whose three phases took
    /// <paramref name="computeTicks"/> in all: the batch size once, the compute time per request.</summary>
    public void RecordExecution(int batchSize, int requestCount, long computeTicks)
    {
        _batchSize.Record(batchSize, _model, _version);
        if (_computeSeconds.Enabled)
        {
            var seconds = computeTicks / (double)Stopwatch.Frequency;
            for (var i = 0; i < requestCount; i++)
            {
                _computeSeconds.Record(seconds, _model, _version);
            }
        }
    }
}
