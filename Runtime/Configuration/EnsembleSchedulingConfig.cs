using System.Collections.Immutable;

namespace Fabrik.Configuration;

/// <summary>The <c>ensemble_scheduling</c> block of a <c>platform: "ensemble"</c> model (Triton's
/// ModelEnsembling): its steps in configuration order, and <c>max_inflight_requests</c> (0: no
/// bound).</summary>
internal sealed record EnsembleSchedulingConfig(ImmutableArray<EnsembleStep> Steps, int MaxInflightRequests)
{
    /// <summary>The platform name that makes a model an ensemble.</summary>
    public const string Platform = "ensemble";
}
