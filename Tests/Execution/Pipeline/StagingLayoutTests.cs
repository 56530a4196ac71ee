using Fabrik.Configuration;
using Fabrik.Execution.Pipeline;
using Xunit;

namespace Fabrik.Tests.Execution.Pipeline;

/// <summary>Which models can be staged, the size of their staging, and the pipeline_depth parameter.</summary>
public sealed class StagingLayoutTests
{
    private static ModelConfig Config(string tensors, int maxBatchSize = 8, string extra = "") => ModelConfigReader.Parse($$"""
        name: "m"
        platform: "onnxruntime_onnx"
        max_batch_size: {{maxBatchSize}}
        {{tensors}}
        {{extra}}
        """, "m");

    [Fact]
    public void For_FixedNumericTensors_SizesEachAreaForTheLargestBatch()
    {
        var layout = StagingLayout.For(Config("""
            input [ { name: "IMAGE" data_type: TYPE_FP32 dims: [ 3, 4, 5 ] }, { name: "MASK" data_type: TYPE_UINT8 dims: [ 7 ] } ]
            output [ { name: "SCORES" data_type: TYPE_FP16 dims: [ 10 ] } ]
            """), out var reason)!;

        Assert.Null(reason);
        Assert.Equal([3 * 4 * 5 * 4L, 7L], layout.InputRowBytes);
        Assert.Equal([10 * 2L], layout.OutputRowBytes);
        Assert.Equal(8, layout.MaxRows);
        Assert.Equal(8 * ((3 * 4 * 5 * 4) + 7 + 20), layout.HostBytes);
        Assert.Equal([5L, 10], layout.Shape(layout.Outputs[0], 5));
    }

    [Fact]
    public void For_ModelWithoutBatching_HoldsOneTensorWithoutABatchDimension()
    {
        var layout = StagingLayout.For(Config("""
            input [ { name: "X" data_type: TYPE_INT32 dims: [ 2, 3 ] } ]
            output [ { name: "Y" data_type: TYPE_INT32 dims: [ 6 ] } ]
            """, maxBatchSize: 0), out _)!;

        Assert.Equal(1, layout.MaxRows);
        Assert.Equal([2L, 3], layout.Shape(layout.Inputs[0], 1));
        Assert.Equal(24, layout.HostBytes / 2);
    }

    [Theory]
    [InlineData("input [ { name: \"X\" data_type: TYPE_STRING dims: [ 1 ] } ] output [ { name: \"Y\" data_type: TYPE_FP32 dims: [ 1 ] } ]", "input 'X' has no fixed size per row (BYTES or a variable dimension)")]
    [InlineData("input [ { name: \"X\" data_type: TYPE_FP32 dims: [ -1 ] } ] output [ { name: \"Y\" data_type: TYPE_FP32 dims: [ 1 ] } ]", "input 'X' has no fixed size per row (BYTES or a variable dimension)")]
    [InlineData("input [ { name: \"X\" data_type: TYPE_FP32 dims: [ 1 ] } ] output [ { name: \"Y\" data_type: TYPE_FP32 dims: [ -1 ] } ]", "output 'Y' has no fixed size per row (BYTES or a variable dimension)")]
    [InlineData("input [ { name: \"X\" data_type: TYPE_FP32 dims: [ 1 ] optional: true } ] output [ { name: \"Y\" data_type: TYPE_FP32 dims: [ 1 ] } ]", "input 'X' is optional")]
    [InlineData("input [ { name: \"X\" data_type: TYPE_FP64 dims: [ 1000000, 1000 ] } ] output [ { name: \"Y\" data_type: TYPE_FP32 dims: [ 1 ] } ]", "input 'X' takes more than 2 GiB at the largest batch")]
    [InlineData("input [ { name: \"X\" data_type: TYPE_FP64 dims: [ 4611686018427387904, 4 ] } ] output [ { name: \"Y\" data_type: TYPE_FP32 dims: [ 1 ] } ]", "input 'X' is too large to stage")]
    public void For_TensorsWithoutAFixedStagingSize_AreNotStagedAndSayWhy(string tensors, string expected)
    {
        Assert.Null(StagingLayout.For(Config(tensors), out var reason));
        Assert.Equal(expected, reason);
    }

    [Theory]
    [InlineData("", true, PipelineDepth.StagedDefault)]
    [InlineData("", false, 1)]
    [InlineData("3", true, 3)]
    [InlineData("3", false, 1)]
    [InlineData("1", true, 1)]
    public void PipelineDepth_ParameterOrDefault_DependsOnWhetherTheInstanceHasStages(string depth, bool staged, int expected)
    {
        var config = Config("", extra: depth.Length == 0 ? "" : $"parameters {{ key: \"pipeline_depth\" value: {{ string_value: \"{depth}\" }} }}");

        Assert.Null(PipelineDepth.Problem(config));
        Assert.Equal(expected, PipelineDepth.For(config, staged));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("9")]
    [InlineData("-2")]
    [InlineData("2.5")]
    public void PipelineDepth_OutOfRange_IsAProblemNamingTheParameter(string depth) =>
        Assert.Equal($"parameter pipeline_depth must be an integer from 1 to 8, not '{depth}'",
            PipelineDepth.Problem(Config("", extra: $"parameters {{ key: \"pipeline_depth\" value: {{ string_value: \"{depth}\" }} }}")));
}
