using System.Collections.Immutable;
using System.Diagnostics;

namespace Fabrik.Observability.Tracing;

/// <summary>Where one traced request spent its time, filled by the scheduler when it runs the
/// request; read by tracing once the request is answered. Stopwatch ticks. Only traced requests
/// carry one, so untraced requests pay nothing for it.</summary>
internal sealed class RequestTimeline
{
    /// <summary>When the execution the request ran in began (0 if it never ran).</summary>
    public long ExecutionStartTimestamp { get; set; }

    public long QueueTicks { get; set; }

    public ExecutionTimings Compute { get; set; }
}

/// <summary>
/// OpenTelemetry traces of inference requests, as Triton's opentelemetry mode gives them: a span
/// per traced request (protocol, model, version, batch size, status) with children for queue,
/// compute_input, compute_infer and compute_output. A W3C traceparent from the client makes the
/// request span a child of the caller's. Level and rate are set globally and per model at run time.
/// </summary>
/// <remarks>Thread-safe: settings are an immutable map swapped through one volatile field; the
/// 1-in-N decision takes one Interlocked increment per request while tracing is on.</remarks>
internal sealed class InferenceTracing
{
    /// <summary>The ActivitySource the OpenTelemetry SDK listens to.</summary>
    public const string SourceName = "Fabrik";

    private static readonly ActivitySource Source = new(SourceName);
    private volatile ImmutableDictionary<string, TraceRuntimeSettings> _models = ImmutableDictionary<string, TraceRuntimeSettings>.Empty;
    private volatile TraceRuntimeSettings _global;
    private long _requests;

    public InferenceTracing(TraceRuntimeSettings global) => _global = global;

    public TraceRuntimeSettings Global => _global;

    /// <summary>The settings that apply to <paramref name="model"/>: its own, or the global ones.</summary>
    public TraceRuntimeSettings For(string model) => _models.GetValueOrDefault(model) ?? _global;

    /// <summary>Whether <paramref name="model"/> has settings of its own.</summary>
    public bool HasOwnSettings(string model) => _models.ContainsKey(model);

    public void SetGlobal(TraceRuntimeSettings settings) => _global = settings;

    /// <summary>Sets <paramref name="model"/>'s settings; null returns it to the global ones.</summary>
    public void SetModel(string model, TraceRuntimeSettings? settings)
    {
        ImmutableDictionary<string, TraceRuntimeSettings> before, after;
        do
        {
            before = _models;
            after = settings is null ? before.Remove(model) : before.SetItem(model, settings);
        }
        while (Interlocked.CompareExchange(ref _models, after, before) != before);
    }

    /// <summary>Starts the span of one request, or returns null when this request is not traced.</summary>
    /// <param name="protocol">"HTTP" or "GRPC".</param>
    /// <param name="model">The model's name.</param>
    /// <param name="version">The version serving it.</param>
    /// <param name="traceparent">The client's W3C traceparent, if any.</param>
    /// <param name="tracestate">The client's W3C tracestate, if any.</param>
    public Activity? Start(string protocol, string model, string version, string? traceparent, string? tracestate)
    {
        var settings = For(model);
        if (settings.Level == TraceLevel.Off || Interlocked.Increment(ref _requests) % settings.Rate != 0 || !Source.HasListeners())
        {
            return null;
        }
        ActivityContext.TryParse(traceparent, tracestate, isRemote: true, out var parent);
        var activity = Source.StartActivity("infer", ActivityKind.Server, parent);
        activity?.SetTag("inference.protocol", protocol);
        activity?.SetTag("model_name", model);
        activity?.SetTag("model_version", version);
        return activity;
    }

    /// <summary>Ends <paramref name="activity"/> with the request's outcome and its phases as
    /// child spans. Does nothing for an untraced request.</summary>
    /// <param name="activity">The request's span, or null.</param>
    /// <param name="batchSize">The request's batch size.</param>
    /// <param name="timeline">Its queue and compute times.</param>
    /// <param name="status">The protocol's status: the HTTP status code, or OK or the gRPC status name.</param>
    /// <param name="failed">Whether the request failed.</param>
    public static void Finish(Activity? activity, int batchSize, RequestTimeline? timeline, string status, bool failed)
    {
        if (activity is null)
        {
            return;
        }
        activity.SetTag("batch_size", batchSize);
        activity.SetTag("status", status);
        activity.SetStatus(failed ? ActivityStatusCode.Error : ActivityStatusCode.Ok);
        if (timeline is { ExecutionStartTimestamp: not 0 })
        {
            // Stopwatch timestamps to wall-clock times, anchored at now.
            var nowTimestamp = Stopwatch.GetTimestamp();
            var now = DateTime.UtcNow;
            DateTime At(long timestamp) => now - Stopwatch.GetElapsedTime(timestamp, nowTimestamp);
            var executionStart = timeline.ExecutionStartTimestamp;
            Phase(activity, "queue", At(executionStart - timeline.QueueTicks), At(executionStart));
            var inputEnd = executionStart + timeline.Compute.InputTicks;
            var inferEnd = inputEnd + timeline.Compute.InferTicks;
            Phase(activity, "compute_input", At(executionStart), At(inputEnd));
            Phase(activity, "compute_infer", At(inputEnd), At(inferEnd));
            Phase(activity, "compute_output", At(inferEnd), At(inferEnd + timeline.Compute.OutputTicks));
        }
        activity.Dispose();
    }

    private static void Phase(Activity parent, string name, DateTime start, DateTime end)
    {
        using var span = Source.StartActivity(name, ActivityKind.Internal, parent.Context, startTime: start);
        span?.SetEndTime(end);
    }
}
