using System.Collections.Immutable;

namespace Fabrik.Configuration;

/// <summary>One step of an ensemble (Triton's ModelEnsembling.Step): the model it runs, which
/// version (-1 for the newest served one), and how its tensors are named inside the ensemble.</summary>
/// <param name="ModelName">The composing model.</param>
/// <param name="ModelVersion">The version to run; -1 (Triton's default) for the newest.</param>
/// <param name="InputMap">The model's input name → the ensemble tensor that feeds it.</param>
/// <param name="OutputMap">The model's output name → the ensemble tensor it becomes.</param>
internal sealed record EnsembleStep(
    string ModelName, long ModelVersion, ImmutableDictionary<string, string> InputMap, ImmutableDictionary<string, string> OutputMap)
{
    /// <summary>The version as a request names it: null for the newest.</summary>
    public string? VersionText => ModelVersion < 0 ? null : ModelVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
