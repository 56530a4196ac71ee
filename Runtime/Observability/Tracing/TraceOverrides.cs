
namespace Fabrik.Observability.Tracing;

/// <summary>A model's own trace settings: each one it has set, or null where it follows the global
/// setting (so a later global change reaches it, as in Triton).</summary>
internal sealed record TraceOverrides(TraceLevel? Level, int? Rate)
{
    public bool IsEmpty => Level is null && Rate is null;

    public TraceRuntimeSettings Over(TraceRuntimeSettings global) => new(Level ?? global.Level, Rate ?? global.Rate);
}
