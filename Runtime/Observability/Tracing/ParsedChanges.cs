
namespace Fabrik.Observability.Tracing;

/// <summary>A validated trace-setting request (see <see cref="TraceSettingNames.Parse"/>).</summary>
internal sealed class ParsedChanges
{
    public TraceLevel? Level { get; set; }

    public int? Rate { get; set; }

    public bool ClearLevel { get; set; }

    public bool ClearRate { get; set; }

    /// <summary>A model's overrides after this request.</summary>
    public TraceOverrides ApplyTo(TraceOverrides own) => new(
        ClearLevel ? null : Level ?? own.Level,
        ClearRate ? null : Rate ?? own.Rate);

    /// <summary>The global settings after this request; a cleared one returns to <paramref name="startup"/>'s.</summary>
    public TraceRuntimeSettings ApplyTo(TraceRuntimeSettings global, TraceRuntimeSettings startup) => new(
        ClearLevel ? startup.Level : Level ?? global.Level,
        ClearRate ? startup.Rate : Rate ?? global.Rate);
}
