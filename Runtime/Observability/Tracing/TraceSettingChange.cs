
namespace Fabrik.Observability.Tracing;

/// <summary>One setting of a trace-setting request, as Triton's trace extension sends it (HTTP
/// or gRPC): its name and its values. No values (JSON null, or an empty gRPC value list) clears
/// the setting: a model's then follows the global one, a global one returns to its start-up value.</summary>
internal readonly record struct TraceSettingChange(string Name, IReadOnlyList<string>? Values)
{
    public bool Clears => Values is null or { Count: 0 };
}
