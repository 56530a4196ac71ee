using System.Globalization;
using Fabrik.Configuration;

namespace Fabrik.Execution.Pipeline;

/// <summary>
/// How many batches an instance keeps in flight: the model parameter <c>pipeline_depth</c>. 1 runs
/// each batch to its end before the next (gather, run, scatter in turn); 2 or more gives a staged
/// instance that many staging sets, so the next batch is copied in while one runs and the last is
/// copied out. Instances whose backend has stages (GPU instances of ONNX Runtime, the simulated
/// device) default to <see cref="StagedDefault"/>; the others have no stages to overlap and run
/// one batch at a time whatever the parameter says.
/// </summary>
internal static class PipelineDepth
{
    public const string Parameter = "pipeline_depth";

    /// <summary>Double buffering: enough whenever a batch's copies take less time than its run.</summary>
    public const int StagedDefault = 2;

    public const int Maximum = 8;

    /// <summary>Why the configuration's pipeline_depth cannot be used, in the user's terms; null
    /// when it is absent or valid.</summary>
    public static string? Problem(ModelConfig config) =>
        config.Parameters.TryGetValue(Parameter, out var text) && Parse(text) is null
            ? $"parameter {Parameter} must be an integer from 1 to {Maximum}, not '{text}'"
            : null;

    /// <summary>The depth an instance runs with: the parameter when set, else
    /// <see cref="StagedDefault"/> for a staged instance and 1 for any other.</summary>
    public static int For(ModelConfig config, bool staged) =>
        !staged ? 1 : config.Parameters.TryGetValue(Parameter, out var text) && Parse(text) is { } depth ? depth : StagedDefault;

    private static int? Parse(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var depth) && depth is >= 1 and <= Maximum ? depth : null;
}
