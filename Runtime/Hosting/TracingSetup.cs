using Fabrik.Observability.Tracing;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Fabrik.Hosting;

/// <summary>Starts the OpenTelemetry SDK for --trace-config: spans of the <c>Fabrik</c> source,
/// exported over OTLP (HTTP/protobuf) to the URL fixed at start-up.</summary>
internal static class TracingSetup
{
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
