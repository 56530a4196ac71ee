using System.Globalization;
using Fabrik.Configuration;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// Session settings taken from the model's <c>parameters</c>, with Triton's onnxruntime backend
/// keys (intra_op_thread_count, inter_op_thread_count, execution_mode) and
/// <c>optimization.graph.level</c>.
/// </summary>
/// <remarks>
/// Defaults, chosen to suit a 2-core host as well as a 64-core one: the intra-op thread count is
/// the host's cores shared among the model's instances, between 1 and 4 (beyond 4, small and
/// medium models gain little and the HTTP server loses cores); one inter-op thread; all graph
/// optimisations; sequential execution. Worker threads spin only when the cores outnumber the
/// threads every instance wants together: spinning on a host with no spare core steals the
/// cores that Kestrel and the batcher need.
/// </remarks>
internal sealed record OnnxRuntimeSettings(int IntraOpThreads, int InterOpThreads, GraphOptimizationLevel GraphLevel, ExecutionMode ExecutionMode, bool AllowSpinning)
{
    /// <summary>The settings a model gets when its configuration sets none.</summary>
    public static OnnxRuntimeSettings Defaults(int instanceCount = 1)
    {
        var threads = DefaultIntraOpThreads(instanceCount);
        return new(threads, 1, GraphOptimizationLevel.ORT_ENABLE_ALL, ExecutionMode.ORT_SEQUENTIAL, SpareCores(threads, 1, instanceCount));
    }

    /// <summary>Whether the host has a core left over once every instance's threads are busy.</summary>
    private static bool SpareCores(int intraOpThreads, int interOpThreads, int instanceCount) =>
        Environment.ProcessorCount > (long)Math.Max(1, instanceCount) * (intraOpThreads + interOpThreads - 1);

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
        var intraOp = Parameter(config, "intra_op_thread_count", defaultThreads);
        var interOp = Parameter(config, "inter_op_thread_count", 1);
        return new OnnxRuntimeSettings(intraOp, interOp, level, mode, SpareCores(intraOp, interOp, instanceCount));
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
        var spinning = AllowSpinning ? "1" : "0";
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning);
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", spinning);
        return options;
    }

    private static int Parameter(ModelConfig config, string key, int fallback) =>
        config.Parameters.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && (value > 0 || key == "execution_mode")
            ? value
            : fallback;
}
