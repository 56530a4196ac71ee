using Fabrik.Observability.Tracing;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Fabrik.Hosting;

/// <summary>Starts what --trace-config asks for: in opentelemetry mode the OpenTelemetry SDK, with
/// spans of the <c>Fabrik</c> source exported over OTLP (HTTP/protobuf) to the URL fixed at
/// start-up; in Triton's mode the trace file named at start-up.</summary>
internal static class TracingSetup
{
    /// <summary>Triton mode's trace file, or null when none was named (or the mode is opentelemetry).</summary>
    /// <exception cref="InvalidOperationException">The file cannot be written.</exception>
    public static TritonTraceFile? OpenTraceFile(TraceSettings settings) =>
        settings.Mode == TraceMode.Triton && settings.File is { } path ? TritonTraceFile.Open(path) : null;

    /// <summary>The SDK's tracer provider, or null when no --trace-config was given.</summary>
    public static TracerProvider? Start(TraceSettings settings)
    {
        if (!settings.Exporting)
        {
            return null;
        }
        return Sdk.CreateTracerProviderBuilder()
            .AddSource(InferenceTracing.SourceName)
            .ConfigureResource(resource => resource
                .AddService("fabrik")
                .AddAttributes(settings.Resource.Select(pair => new KeyValuePair<string, object>(pair.Key, pair.Value))))
            .AddOtlpExporter(otlp =>
            {
                otlp.Endpoint = settings.Url;
                otlp.Protocol = OtlpExportProtocol.HttpProtobuf;
                otlp.BatchExportProcessorOptions.ScheduledDelayMilliseconds = 1000;
            })
            .Build();
    }
}
