
namespace Fabrik.Observability.Tracing;

/// <summary>Trace level, as Triton names it: OFF, or TIMESTAMPS (spans with their timings).</summary>
internal enum TraceLevel
{
    Off,
    Timestamps,
}
