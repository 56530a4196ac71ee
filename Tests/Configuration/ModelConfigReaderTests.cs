using Fabrik.Configuration;
using Fabrik.Execution;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Configuration;

public sealed class ModelConfigReaderTests
{
    // A config in the style of Triton's own examples: comments, lists without a colon, both
    // brace styles, enum names and repeated scalar fields.
    private const string TritonStyleConfig = """
        # Triton-style configuration
        name: "densenet"
        platform: "onnxruntime_onnx"
        max_batch_size : 8
        input [
          {
            name: "data_0"
            data_type: TYPE_FP32
            dims: [ 3, 224, 224 ]
          }
        ]
        output [
          {
            name: "fc6_1"
            data_type: TYPE_FP16
            dims: [ -1 ]
            label_filename: "labels.txt"
          }
        ]
        instance_group [ { count: 2, kind: KIND_CPU } ]
        dynamic_batching < preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100 >
        parameters { key: "intra_op_thread_count" value: { string_value: "2" } }
        version_policy: { latest: { num_versions: 2 } }
        model_transaction_policy { decoupled: false }
        """;

    [Fact]
    public void Parse_TritonStyleConfig_ReadsEverySupportedField()
    {
        var config = ModelConfigReader.Parse(TritonStyleConfig, "densenet");

        Assert.Equal("densenet", config.Name);
        Assert.Equal("onnxruntime", BackendRegistry.Default.Resolve(config).Name);
        Assert.Equal(8, config.MaxBatchSize);
        var input = Assert.Single(config.Inputs);
        Assert.Equal(("data_0", DataType.Fp32), (input.Name, input.DataType));
        Assert.Equal([3L, 224L, 224L], input.Dims.ToArray());
        var output = Assert.Single(config.Outputs);
        Assert.Equal(DataType.Fp16, output.DataType);
        Assert.Equal([-1L], output.Dims.ToArray());
        var group = Assert.Single(config.InstanceGroups);
        Assert.Equal((2, InstanceKind.Cpu), (group.Count, group.Kind));
        Assert.Equal([4, 8], config.DynamicBatching!.PreferredBatchSizes.ToArray());
        Assert.Equal(100, config.DynamicBatching.MaxQueueDelayMicroseconds);
        Assert.Equal("2", config.Parameters["intra_op_thread_count"]);
        Assert.Equal(VersionPolicy.Latest(2), config.VersionPolicy);
        Assert.Contains("model_transaction_policy", config.IgnoredFields);
        Assert.Contains("output.label_filename", config.IgnoredFields);
    }

    [Fact]
    public void Parse_NoInstanceGroup_GivesOneAutoGroupWithItsCountUnset()
    {
        var config = ModelConfigReader.Parse("platform: \"pytorch_libtorch\"", "m");
        var group = Assert.Single(config.InstanceGroups);
        Assert.Equal((InstanceGroupConfig.DefaultCount, InstanceKind.Auto), (group.Count, group.Kind));
        Assert.Equal("pytorch", BackendRegistry.Default.Resolve(config).Name);
    }

    [Theory]
    [InlineData("name: \"m\"\nmax_batch_size: eight", "line 2, column 1", "must be an integer")]
    [InlineData("name: \"m\"\ninput [ { name: \"a\" data_type: TYPE_FP32 dims: [ 1 ] }", "line 2", "expected ',' or ']'")]
    [InlineData("name: \"unterminated", "line 1, column 7", "unterminated string")]
    [InlineData("input { name: \"a\" data_type: TYPE_COMPLEX }", "line 1, column 19", "unsupported data_type 'TYPE_COMPLEX'")]
    [InlineData("input { name: \"a\" }", "line 1, column 1", "has no data_type")]
    [InlineData("max_batch_size 8", "line 1, column 16", "expected ':' or '{'")]
    [InlineData("instance_group [ { count: 0 } ]", "line 1, column 20", "count must be at least 1")]
    [InlineData("input { name: \"a\" data_type: TYPE_FP32 dims: [ -2 ] }", "line 1", "dims must be -1")]
    [InlineData("{ }", "line 1, column 1", "expected a field name")]
    public void Parse_MalformedConfig_ReportsLineColumnAndReason(string text, string position, string reason)
    {
        var error = Assert.Throws<ConfigFormatException>(() => ModelConfigReader.Parse(text, "m"));
        Assert.Contains(position, error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("version_policy { all {} }", new long[] { 1, 2, 5 })]
    [InlineData("version_policy { latest { num_versions: 2 } }", new long[] { 2, 5 })]
    [InlineData("version_policy { specific { versions: [ 1, 5, 9 ] } }", new long[] { 1, 5 })]
    [InlineData("", new long[] { 5 })]
    public void VersionPolicy_SelectsTheServedVersions(string text, long[] served)
    {
        var config = ModelConfigReader.Parse(text, "m");
        Assert.Equal(served, config.VersionPolicy.Select([1, 2, 5]));
    }

    [Fact]
    public void Parse_OptimizationBlock_ReadsGraphLevelAndGpuAccelerators()
    {
        var config = ModelConfigReader.Parse("""
            optimization {
              graph { level: 1 }
              execution_accelerators {
                gpu_execution_accelerator : [ {
                  name : "tensorrt"
                  parameters { key: "precision_mode" value: "FP16" }
                  parameters { key: "trt_engine_cache_enable" value: "1" }
                } ]
                cpu_execution_accelerator : [ { name : "openvino" } ]
              }
            }
            """, "m");

        Assert.Equal(1, config.Optimization.GraphLevel);
        var tensorRt = Assert.Single(config.Optimization.GpuAccelerators);
        Assert.Equal("tensorrt", tensorRt.Name);
        Assert.Equal("FP16", tensorRt.Parameters["precision_mode"]);
        Assert.Equal("1", tensorRt.Parameters["trt_engine_cache_enable"]);
        Assert.Contains("optimization.execution_accelerators.cpu_execution_accelerator", config.IgnoredFields);
    }

    [Theory]
    [InlineData(new[] { "INPUT__0", "INPUT__1" }, new[] { 0, 1 })]
    [InlineData(new[] { "INPUT__1", "INPUT__0" }, new[] { 1, 0 })]
    [InlineData(new[] { "features", "mask" }, new[] { 0, 1 })]
    public void TorchScriptArguments_FollowTritonsIndexSuffix(string[] names, int[] positions)
    {
        var config = new ModelConfig
        {
            Name = "m",
            Platform = "pytorch_libtorch",
            Inputs = [.. names.Select(name => new TensorConfig(name, Fabrik.Tensors.DataType.Fp32, [1]))],
        };
        Assert.Equal(positions, Fabrik.Execution.TorchSharp.TorchScriptInstance.ArgumentPositions(config));
    }

    [Fact]
    public void TorchScriptArguments_WithAGapInTheIndices_AreRejected()
    {
        var config = new ModelConfig
        {
            Name = "m",
            Platform = "pytorch_libtorch",
            Inputs = [new TensorConfig("INPUT__0", Fabrik.Tensors.DataType.Fp32, [1]), new TensorConfig("INPUT__2", Fabrik.Tensors.DataType.Fp32, [1])],
        };
        var error = Assert.Throws<InvalidOperationException>(() => Fabrik.Execution.TorchSharp.TorchScriptInstance.ArgumentPositions(config));
        Assert.Contains("must number forward's arguments 0 to 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NameDisagreesWithFolder_IsRejected()
    {
        var error = Assert.Throws<ConfigFormatException>(() => ModelConfigReader.Parse("name: \"other\"", "m"));
        Assert.Contains("does not match the model folder 'm'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"a\\tb\"", "a\tb")]
    [InlineData("\"\\x41\\102\"", "AB")]
    [InlineData("'single' \"joined\"", "singlejoined")]
    [InlineData("\"caf\\303\\251\"", "café")]
    public void Parse_StringEscapes_AreDecoded(string literal, string expected)
    {
        var config = ModelConfigReader.Parse($"default_model_filename: {literal}", "m");
        Assert.Equal(expected, config.DefaultModelFilename);
    }
}
