
namespace Fabrik.Observability.Tracing;

/// <summary>Where traces go: Triton's own JSON trace file, or OpenTelemetry's OTLP exporter.</summary>
internal enum TraceMode
{
    Triton,
    OpenTelemetry,
}
