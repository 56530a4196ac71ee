using Fabrik.Configuration;
using Fabrik.Execution.OnnxRuntime;
using Xunit;

namespace Fabrik.Tests.Execution.OnnxRuntime;

/// <summary>The CUDA provider's options as ONNX Runtime's parser takes them, from the values
/// Triton's onnxruntime backend documents; what runs on a GPU is in the Gpu category.</summary>
public sealed class CudaProviderOptionsTests
{
    private static ModelConfig Config(string extra) => ModelConfigReader.Parse($$"""
        name: "m"
        platform: "onnxruntime_onnx"
        {{extra}}
        """, "m");

    private static string Parameter(string key, string value) => $"parameters {{ key: \"{key}\" value: {{ string_value: \"{value}\" }} }}";

    [Theory]
    [InlineData("0", "EXHAUSTIVE")]
    [InlineData("1", "HEURISTIC")]
    [InlineData("2", "DEFAULT")]
    [InlineData("heuristic", "HEURISTIC")]
    public void For_CudnnConvAlgoSearch_TakesTritonsNumbersAndOrtsNames(string value, string expected) =>
        Assert.Equal(expected, CudaProviderOptions.For(Config(Parameter("cudnn_conv_algo_search", value)), 0, IntPtr.Zero)["cudnn_conv_algo_search"]);

    [Theory]
    [InlineData("0", "kNextPowerOfTwo")]
    [InlineData("1", "kSameAsRequested")]
    [InlineData("kSameAsRequested", "kSameAsRequested")]
    public void For_ArenaExtendStrategy_TakesTritonsNumbersAndOrtsNames(string value, string expected) =>
        Assert.Equal(expected, CudaProviderOptions.For(Config(Parameter("arena_extend_strategy", value)), 0, IntPtr.Zero)["arena_extend_strategy"]);

    [Fact]
    public void For_CudaGraphsAndDevice_AreWrittenAsOrtReadsThem()
    {
        var config = Config(Parameter("enable_cuda_graph", "true"));
        var options = CudaProviderOptions.For(config, 3, IntPtr.Zero);

        Assert.Equal("1", options["enable_cuda_graph"]);
        Assert.Equal("3", options["device_id"]);
        Assert.False(options.ContainsKey("user_compute_stream"));
        Assert.True(CudaProviderOptions.GraphsEnabled(config));
        Assert.False(CudaProviderOptions.GraphsEnabled(Config("")));
    }

    [Fact]
    public void For_InstanceStream_IsPassedAsItsDecimalAddress()
    {
        var options = CudaProviderOptions.For(Config(""), 0, new IntPtr(0x7f00_1234_5678));

        Assert.Equal("1", options["has_user_compute_stream"]);
        Assert.Equal((0x7f00_1234_5678L).ToString(System.Globalization.CultureInfo.InvariantCulture), options["user_compute_stream"]);
    }

    [Fact]
    public void For_AcceleratorParameters_AreNormalisedAndOverrideModelParameters()
    {
        var options = CudaProviderOptions.For(Config(Parameter("cudnn_conv_algo_search", "0") + """

            optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "cuda" parameters { key: "cudnn_conv_algo_search" value: "1" } } ] } }
            """), 0, IntPtr.Zero);

        Assert.Equal("HEURISTIC", options["cudnn_conv_algo_search"]);
    }

    [Theory]
    [InlineData("cudnn_conv_algo_search", "3")]
    [InlineData("arena_extend_strategy", "2")]
    [InlineData("enable_cuda_graph", "yes")]
    [InlineData("gpu_mem_limit", "-1")]
    public void For_InvalidValue_NamesTheParameter(string key, string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => CudaProviderOptions.For(Config(Parameter(key, value)), 0, IntPtr.Zero));
        Assert.StartsWith($"parameter {key} must be", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void For_AcceleratorNamingAStream_IsRefused()
    {
        var config = Config("""
            optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "cuda" parameters { key: "user_compute_stream" value: "4096" } } ] } }
            """);

        var error = Assert.Throws<InvalidOperationException>(() => CudaProviderOptions.For(config, 0, IntPtr.Zero));
        Assert.Contains("'user_compute_stream' is set by the server", error.Message, StringComparison.Ordinal);
    }
}
