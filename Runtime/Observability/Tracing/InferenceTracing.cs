using System.Collections.Immutable;
using System.Diagnostics;

namespace Fabrik.Observability.Tracing;

/// <summary>
/// Traces of inference requests. In Triton's opentelemetry mode: a span per traced request
/// (protocol, model, version, batch size, status) with children for queue, compute_input,
/// compute_infer and compute_output, and a W3C traceparent from the client makes the request span
/// a child of the caller's. In Triton's trace mode with a file: the same timings written to the
/// file as Triton's JSON trace records (<see cref="TritonTraceFile"/>). Level and rate are set
/// globally and per model at run time.
/// </summary>
/// <remarks>Thread-safe: the global settings and the map of models' own settings are immutable and
/// swapped through volatile fields (updates serialize on a lock; requests read without one); the
/// 1-in-N decision takes one Interlocked increment per request while tracing is on.</remarks>
internal sealed class InferenceTracing
{
    /// <summary>The ActivitySource the OpenTelemetry SDK listens to.</summary>
    public const string SourceName = "Fabrik";

    private static readonly ActivitySource Source = new(SourceName);
    private readonly TraceRuntimeSettings _startup;
    private readonly string _mode;
    private readonly TritonTraceFile? _file;
    private readonly Lock _updateGate = new();
    private volatile ImmutableDictionary<string, TraceOverrides> _models = ImmutableDictionary<string, TraceOverrides>.Empty;
    private volatile TraceRuntimeSettings _global;
    private long _requests;

    /// <param name="startup">The settings --trace-config gave: the global ones, and what a cleared
    /// global setting returns to.</param>
    /// <param name="mode">The trace mode reported by the trace extension.</param>
    /// <param name="file">Triton mode's trace file, which traced requests are written to; null
    /// traces through the <see cref="SourceName"/> ActivitySource (OpenTelemetry) instead.</param>
    public InferenceTracing(TraceRuntimeSettings startup, string mode = "opentelemetry", TritonTraceFile? file = null)
    {
        _startup = startup;
        _global = startup;
        _mode = mode;
        _file = file;
    }

    public TraceRuntimeSettings Global => _global;

    /// <summary>The settings that apply to <paramref name="model"/>: its own where it has set them,
    /// the global ones for the rest.</summary>
    public TraceRuntimeSettings For(string model) => _models.GetValueOrDefault(model) is { } own ? own.Over(_global) : _global;

    /// <summary>Applies a trace-setting request, globally (<paramref name="model"/> null) or to one
    /// model, all of it or nothing, and returns the settings that now apply there.</summary>
    /// <exception cref="Errors.InferenceException">InvalidArgument, naming the setting, when any
    /// part cannot be applied (see <see cref="TraceSettingNames.Parse"/>); nothing changes then.</exception>
    public IReadOnlyList<KeyValuePair<string, string[]>> Update(string? model, IEnumerable<TraceSettingChange> changes)
    {
        var parsed = TraceSettingNames.Parse(changes);
        lock (_updateGate)
        {
            if (model is null)
            {
                _global = parsed.ApplyTo(_global, _startup);
            }
            else
            {
                var own = parsed.ApplyTo(_models.GetValueOrDefault(model) ?? new TraceOverrides(null, null));
                _models = own.IsEmpty ? _models.Remove(model) : _models.SetItem(model, own);
            }
        }
        return Describe(model);
    }

    /// <summary>The settings that apply globally or to <paramref name="model"/>, named as Triton's
    /// trace extension names them.</summary>
    public IReadOnlyList<KeyValuePair<string, string[]>> Describe(string? model)
    {
        var settings = model is null ? _global : For(model);
        return
        [
            new(TraceSettingNames.Level, [TraceRuntimeSettings.LevelName(settings.Level)]),
            new(TraceSettingNames.Rate, [TraceSettingNames.RateText(settings.Rate)]),
            new(TraceSettingNames.Mode, [_mode]),
        ];
    }

    /// <summary>Starts the span of one request, or returns null when this request is not traced.</summary>
    /// <param name="protocol">"HTTP" or "GRPC".</param>
    /// <param name="model">The model's name.</param>
    /// <param name="version">The version serving it.</param>
    /// <param name="traceparent">The client's W3C traceparent, if any.</param>
    /// <param name="tracestate">The client's W3C tracestate, if any.</param>
    public Activity? Start(string protocol, string model, string version, string? traceparent, string? tracestate)
    {
        // Merged field by field, so the request path allocates nothing for a model's own settings.
        var global = _global;
        var own = _models.GetValueOrDefault(model);
        var level = own?.Level ?? global.Level;
        var rate = own?.Rate ?? global.Rate;
        if (level == TraceLevel.Off || Interlocked.Increment(ref _requests) % rate != 0)
        {
            return null;
        }
        if (_file is not null)
        {
            // Not from the ActivitySource: no listener is needed, and OpenTelemetry never sees it.
            var traced = new Activity("infer").Start();
            traced.SetCustomProperty(TritonTraceKey, new TritonTraceStart(_file, model, version, Stopwatch.GetTimestamp()));
            return traced;
        }
        if (!Source.HasListeners())
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
        if (activity.GetCustomProperty(TritonTraceKey) is TritonTraceStart triton)
        {
            WriteTritonTrace(triton, timeline);
            activity.Dispose();
            return;
        }
        activity.SetTag("batch_size", batchSize);
        activity.SetTag("status", status);
        activity.SetStatus(failed ? ActivityStatusCode.Error : ActivityStatusCode.Ok);
        Phases(activity, timeline);
        activity.Dispose();
    }

    /// <summary>Records one step of a traced ensemble request, just answered, under the request's
    /// trace: a child span of the request's span (the current activity, which <see cref="Start"/>
    /// made) with the step's own queue and compute phases, or in Triton's trace mode a trace
    /// record of the step's model. Called only for traced requests (those with a timeline).</summary>
    /// <param name="step">The step's label, as the ensemble's errors name it.</param>
    /// <param name="model">The step's model.</param>
    /// <param name="version">The version that ran it.</param>
    /// <param name="startTimestamp">Stopwatch timestamp at which the step was sent to its model.</param>
    /// <param name="timeline">The step request's queue and compute times.</param>
    /// <param name="failed">Whether the step failed.</param>
    public static void FinishStep(string step, string model, string version, long startTimestamp, RequestTimeline timeline, bool failed)
    {
        if (Activity.Current is not { OperationName: "infer" } request)
        {
            return;
        }
        if (request.GetCustomProperty(TritonTraceKey) is TritonTraceStart triton)
        {
            WriteTritonTrace(triton with { Model = model, Version = version, RequestStart = startTimestamp }, timeline);
            return;
        }
        var nowTimestamp = Stopwatch.GetTimestamp();
        var start = DateTime.UtcNow - Stopwatch.GetElapsedTime(startTimestamp, nowTimestamp);
        using var span = Source.StartActivity("ensemble_step", ActivityKind.Internal, request.Context, startTime: start);
        if (span is null)
        {
            return;
        }
        span.SetTag("ensemble_step", step);
        span.SetTag("model_name", model);
        span.SetTag("model_version", version);
        span.SetStatus(failed ? ActivityStatusCode.Error : ActivityStatusCode.Ok);
        Phases(span, timeline);
    }

    /// <summary>The queue and compute phases of <paramref name="timeline"/> as child spans of
    /// <paramref name="parent"/>; none when the request never ran.</summary>
    private static void Phases(Activity parent, RequestTimeline? timeline)
    {
        if (timeline is not { ExecutionStartTimestamp: not 0 })
        {
            return;
        }
        // Stopwatch timestamps to wall-clock times, anchored at now.
        var nowTimestamp = Stopwatch.GetTimestamp();
        var now = DateTime.UtcNow;
        DateTime At(long timestamp) => now - Stopwatch.GetElapsedTime(timestamp, nowTimestamp);
        var executionStart = timeline.ExecutionStartTimestamp;
        Phase(parent, "queue", At(executionStart - timeline.QueueTicks), At(executionStart));
        var inputEnd = executionStart + timeline.ComputeInputTicks;
        var inferEnd = inputEnd + timeline.ComputeInferTicks;
        Phase(parent, "compute_input", At(executionStart), At(inputEnd));
        Phase(parent, "compute_infer", At(inputEnd), At(inferEnd));
        Phase(parent, "compute_output", At(inferEnd), At(inferEnd + timeline.ComputeOutputTicks));
    }

    private const string TritonTraceKey = "fabrik.triton_trace";

    /// <summary>What a request traced to Triton's file carries from its start to its end.</summary>
    private sealed record TritonTraceStart(TritonTraceFile File, string Model, string Version, long RequestStart);

    private static void WriteTritonTrace(TritonTraceStart trace, RequestTimeline? timeline)
    {
        var requestEnd = Stopwatch.GetTimestamp();
        Span<(string, long)> timestamps = new (string, long)[7];
        var count = 0;
        timestamps[count++] = ("REQUEST_START", trace.RequestStart);
        if (timeline is { ExecutionStartTimestamp: not 0 })
        {
            var executionStart = timeline.ExecutionStartTimestamp;
            var inputEnd = executionStart + timeline.ComputeInputTicks;
            var inferEnd = inputEnd + timeline.ComputeInferTicks;
            timestamps[count++] = ("QUEUE_START", executionStart - timeline.QueueTicks);
            timestamps[count++] = ("COMPUTE_START", executionStart);
            timestamps[count++] = ("COMPUTE_INPUT_END", inputEnd);
            timestamps[count++] = ("COMPUTE_OUTPUT_START", inferEnd);
            timestamps[count++] = ("COMPUTE_END", inferEnd + timeline.ComputeOutputTicks);
        }
        timestamps[count++] = ("REQUEST_END", requestEnd);
        trace.File.Write(trace.Model, trace.Version, timestamps[..count]);
    }

    private static void Phase(Activity parent, string name, DateTime start, DateTime end)
    {
        using var span = Source.StartActivity(name, ActivityKind.Internal, parent.Context, startTime: start);
        span?.SetEndTime(end);
    }
}
