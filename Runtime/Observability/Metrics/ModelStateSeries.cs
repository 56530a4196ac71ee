
namespace Fabrik.Observability.Metrics;

/// <summary>A model version in one lifecycle state (for fabrik_model_state).</summary>
internal readonly record struct ModelStateSeries(string Model, string Version, string State);
