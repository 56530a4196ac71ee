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
internal sealed record OnnxRuntimeSettings(int IntraOpThreads, int InterOpThreads)
{
    public static OnnxRuntimeSettings From(ModelConfig config, int instanceCount)
    {
        var defaultThreads = Math.Clamp(Environment.ProcessorCount / Math.Max(1, instanceCount), 1, 4);
        return new OnnxRuntimeSettings(
            Parameter(config, "intra_op_thread_count", defaultThreads),
            Parameter(config, "inter_op_thread_count", 1));
    }

    public SessionOptions CreateSessionOptions()
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = IntraOpThreads,
            InterOpNumThreads = InterOpThreads,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        return options;
    }

    private static int Parameter(ModelConfig config, string key, int fallback) =>
        config.Parameters.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : fallback;
}
