
namespace Fabrik.Observability.Metrics;

/// <summary>A served model version as the metrics see it: its labels and its statistics.</summary>
internal readonly record struct ModelSeries(string Model, string Version, ModelStatistics Statistics);
