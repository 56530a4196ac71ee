using System.Globalization;
using Fabrik.Models.Configuration;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// Session settings taken from the model's <c>parameters</c>, with Triton's onnxruntime backend
/// keys (intra_op_thread_count, inter_op_thread_count). The default intra-op thread count is the
/// host's cores shared among the model's instances, at most 4; spinning is off so idle sessions
/// do not burn the cores that the HTTP server needs.
/// </summary>
internal sealed record OnnxRuntimeSettings(int IntraOpThreads, int InterOpThreads, GraphOptimizationLevel GraphLevel, ExecutionMode ExecutionMode)
{
    /// <summary>The settings a model gets when its configuration sets none.</summary>
    public static OnnxRuntimeSettings Defaults(int instanceCount = 1) =>
        new(DefaultIntraOpThreads(instanceCount), 1, GraphOptimizationLevel.ORT_ENABLE_ALL, ExecutionMode.ORT_SEQUENTIAL);

    private static int DefaultIntraOpThreads(int instanceCount) => Math.Clamp(Environment.ProcessorCount / Math.Max(1, instanceCount), 1, 4);

    public static OnnxRuntimeSettings From(ModelConfig config, int instanceCount)
    {
        var defaultThreads = DefaultIntraOpThreads(instanceCount);
        // optimization.graph.level as Triton's onnxruntime backend reads it: -1 disables graph
        // optimizations, 1 enables the extended ones, anything else (or nothing) enables all.
        var level = config.Optimization.GraphLevel switch
        {
            -1 => GraphOptimizationLevel.ORT_DISABLE_ALL,
            0 => GraphOptimizationLevel.ORT_ENABLE_BASIC,
            1 => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        var mode = Parameter(config, "execution_mode", 0) == 1 ? ExecutionMode.ORT_PARALLEL : ExecutionMode.ORT_SEQUENTIAL;
        return new OnnxRuntimeSettings(
            Parameter(config, "intra_op_thread_count", defaultThreads),
            Parameter(config, "inter_op_thread_count", 1),
            level,
            mode);
    }

    public SessionOptions CreateSessionOptions()
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = IntraOpThreads,
            InterOpNumThreads = InterOpThreads,
            GraphOptimizationLevel = GraphLevel,
            ExecutionMode = ExecutionMode,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        return options;
    }

    private static int Parameter(ModelConfig config, string key, int fallback) =>
        config.Parameters.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && (value > 0 || key == "execution_mode")
            ? value
            : fallback;
}
