using Fabrik.Configuration;
using Fabrik.Execution.OnnxRuntime;
using Microsoft.ML.OnnxRuntime;
using Xunit;

namespace Fabrik.Tests.Execution.OnnxRuntime;

/// <summary>Session settings from config.pbtxt, with Triton's onnxruntime backend keys.</summary>
public sealed class OnnxRuntimeSettingsTests
{
    private static ModelConfig Config(string extra) => ModelConfigReader.Parse($$"""
        name: "m"
        platform: "onnxruntime_onnx"
        {{extra}}
        """, "m");

    [Fact]
    public void From_Parameters_SetThreadsModeAndGraphLevel()
    {
        var settings = OnnxRuntimeSettings.From(Config("""
            parameters { key: "intra_op_thread_count" value: { string_value: "3" } }
            parameters { key: "inter_op_thread_count" value: { string_value: "2" } }
            parameters { key: "execution_mode" value: { string_value: "1" } }
            optimization { graph { level: -1 } }
            """), instanceCount: 1);

        Assert.Equal(3, settings.IntraOpThreads);
        Assert.Equal(2, settings.InterOpThreads);
        Assert.Equal(ExecutionMode.ORT_PARALLEL, settings.ExecutionMode);
        Assert.Equal(GraphOptimizationLevel.ORT_DISABLE_ALL, settings.GraphLevel);
    }

    [Fact]
    public void From_NoParameters_SharesTheCoresAmongInstancesUpToFour()
    {
        var settings = OnnxRuntimeSettings.From(Config(""), instanceCount: 2);

        Assert.Equal(Math.Clamp(Environment.ProcessorCount / 2, 1, 4), settings.IntraOpThreads);
        Assert.Equal(1, settings.InterOpThreads);
        Assert.Equal(GraphOptimizationLevel.ORT_ENABLE_ALL, settings.GraphLevel);
    }

    [Fact]
    public void From_AsManyThreadsAsCores_TurnsSpinningOff()
    {
        var cores = Environment.ProcessorCount;
        var busy = OnnxRuntimeSettings.From(Config($$"""parameters { key: "intra_op_thread_count" value: { string_value: "{{cores}}" } }"""), instanceCount: 1);
        var twoInstances = OnnxRuntimeSettings.From(Config($$"""parameters { key: "intra_op_thread_count" value: { string_value: "{{Math.Max(1, cores / 2)}}" } }"""), instanceCount: 2);
        var spare = OnnxRuntimeSettings.From(Config($$"""parameters { key: "intra_op_thread_count" value: { string_value: "{{cores - 1}}" } }"""), instanceCount: 1);

        Assert.False(busy.AllowSpinning);
        Assert.False(twoInstances.AllowSpinning);
        Assert.Equal(cores > 1, spare.AllowSpinning);
    }
}
