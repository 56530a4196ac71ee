using Fabrik.Configuration;
using Xunit;

namespace Fabrik.Tests.Configuration;

/// <summary><c>ensemble_scheduling</c> read as Triton's ModelEnsembling.</summary>
public sealed class EnsembleSchedulingReaderTests
{
    [Fact]
    public void Steps_ReadWithTheirMapsVersionsAndMaxInflightRequests()
    {
        var config = ModelConfigReader.Parse("""
            platform: "ensemble"
            max_batch_size: 4
            ensemble_scheduling {
              max_inflight_requests: 16
              step [
                { model_name: "pre" model_version: -1 input_map { key: "RAW" value: "IMAGE" } output_map { key: "OUT" value: "pixels" } },
                { model_name: "cnn" model_version: 3 input_map { key: "INPUT0" value: "pixels" } output_map { key: "OUTPUT0" value: "LOGITS" } },
                { model_name: "post" input_map [ { key: "A" value: "LOGITS" }, { key: "B" value: "IMAGE" } ] }
              ]
            }
            """, "ens");

        var ensemble = config.Ensemble!;
        Assert.Equal(16, ensemble.MaxInflightRequests);
        Assert.Equal(["pre", "cnn", "post"], ensemble.Steps.Select(step => step.ModelName));
        Assert.Equal([-1L, 3L, -1L], ensemble.Steps.Select(step => step.ModelVersion));
        Assert.Null(ensemble.Steps[0].VersionText);
        Assert.Equal("3", ensemble.Steps[1].VersionText);
        Assert.Equal("IMAGE", ensemble.Steps[0].InputMap["RAW"]);
        Assert.Equal("pixels", ensemble.Steps[0].OutputMap["OUT"]);
        Assert.Equal("LOGITS", ensemble.Steps[2].InputMap["A"]);
        Assert.Equal("IMAGE", ensemble.Steps[2].InputMap["B"]);
        Assert.Empty(ensemble.Steps[2].OutputMap);
        Assert.Equal(4, config.MaxBatchSize);
    }

    [Fact]
    public void MaxInflightResponses_TheProtoName_IsReadToo()
    {
        var config = ModelConfigReader.Parse("platform: \"ensemble\" ensemble_scheduling { max_inflight_responses: 7 step [ { model_name: \"a\" } ] }", "ens");
        Assert.Equal(7, config.Ensemble!.MaxInflightRequests);
    }

    [Theory]
    [InlineData("platform: \"ensemble\"", "needs an ensemble_scheduling block")]
    [InlineData("platform: \"onnxruntime_onnx\" ensemble_scheduling { step [ { model_name: \"a\" } ] }", "only for platform \"ensemble\"")]
    [InlineData("platform: \"ensemble\" ensemble_scheduling { }", "at least one step")]
    [InlineData("platform: \"ensemble\" ensemble_scheduling { step [ { model_version: 1 } ] }", "step 0 has no model_name")]
    [InlineData("platform: \"ensemble\" ensemble_scheduling { step [ { model_name: \"a\" model_version: -2 } ] }", "model_version must be -1")]
    [InlineData("platform: \"ensemble\" ensemble_scheduling { step [ { model_name: \"a\" input_map { key: \"X\" value: \"t\" } input_map { key: \"X\" value: \"u\" } } ] }", "input_map names 'X' twice")]
    [InlineData("platform: \"ensemble\" ensemble_scheduling { step [ { model_name: \"a\" input_map { key: \"X\" } } ] }", "need a key and a value")]
    [InlineData("platform: \"ensemble\" ensemble_scheduling { step [ { model_name: \"a\" } ] } dynamic_batching { }", "no dynamic_batching")]
    [InlineData("platform: \"ensemble\" ensemble_scheduling { step [ { model_name: \"a\" model_nmae: \"b\" } ] }", "'model_nmae' is not supported")]
    public void Malformed_IsRefusedSayingWhy(string text, string expected)
    {
        var error = Assert.Throws<ConfigFormatException>(() => ModelConfigReader.Parse(text, "ens"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
