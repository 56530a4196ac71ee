using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution.TorchSharp;

/// <summary>
/// A TorchScript model given values it cannot compute with is the request's fault, as for ONNX
/// Runtime: the committed <c>mlp_torch</c> served with its input's dimension made variable
/// accepts any width in the protocol, but its first Linear layer multiplies by a 16-row weight.
/// A request 5 wide is answered 400 naming the operation (never libtorch's own text or the
/// model's serialized code), does not count against the model's health, and the model goes on
/// serving the stored samples.
/// </summary>
public sealed class TorchScriptDataRefusalTests : IAsyncLifetime
{
    private readonly TemporaryRepository _repository = new TemporaryRepository()
        .Add("mlp_torch", "mlp_torch_any_width")
        .ReplaceInConfig("mlp_torch_any_width", "dims: [ 16 ]", "dims: [ -1 ]")
        // A configuration mistake, not the client's: the input declared FP64 for FP32 weights.
        .Add("mlp_torch", "mlp_torch_fp64")
        .ReplaceInConfig("mlp_torch_fp64", "data_type: TYPE_FP32\n    dims: [ 16 ]", "data_type: TYPE_FP64\n    dims: [ 16 ]");

    private InMemoryFabrik _server = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path);
        _client = _server.CreateHttpClient();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        _repository.Dispose();
    }

    [Fact]
    public async Task Infer_InputTheModelsLayersCannotMultiply_Is400NamingTheOperation_AndTheModelStaysReady()
    {
        // More refusals in a row than the consecutive backend failures (5) that would take the
        // model out of service if they counted.
        for (var i = 0; i < 8; i++)
        {
            using var refused = await PostAsync(Body(width: 5));
            var text = await refused.Content.ReadAsStringAsync();
            Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, $"{refused.StatusCode}: {text}");
            var error = (string)JsonNode.Parse(text)!["error"]!;
            Assert.Contains("could not compute a result from the shapes or values of this request", error, StringComparison.Ordinal);
            Assert.Contains("linear", error, StringComparison.Ordinal);
            Assert.DoesNotContain("Traceback", error, StringComparison.Ordinal);
            Assert.DoesNotContain("__torch__", error, StringComparison.Ordinal);
            Assert.DoesNotContain("mat1", error, StringComparison.Ordinal);
        }

        using var ready = await _client.GetAsync("/v2/models/mlp_torch_any_width/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using var stats = await _client.GetAsync("/v2/models/mlp_torch_any_width/stats");
        var failed = JsonNode.Parse(await stats.Content.ReadAsStringAsync())!["model_stats"]![0]!["inference_stats"]!["fail"]!;
        Assert.Equal(8, (int)failed["count"]!);

        var sample = Samples.Sample("mlp_torch", 0);
        using var served = await PostAsync(new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(await served.Content.ReadAsStringAsync())!["outputs"]!.AsArray(), 1e-5);
    }

    [Fact]
    public async Task Infer_ModelFailingOnItsOwnConfiguration_StaysInternal_AndCountsAgainstItsHealth()
    {
        // libtorch refuses FP64 rows against FP32 weights: the model's setup is wrong, not the
        // request, so it is a 500 (without libtorch's text) and five in a row take the model out
        // of service.
        for (var i = 0; i < 5; i++)
        {
            using var failed = await PostAsync(Body(width: 16, datatype: "FP64"), "mlp_torch_fp64");
            var text = await failed.Content.ReadAsStringAsync();
            Assert.True(failed.StatusCode == HttpStatusCode.InternalServerError, $"{failed.StatusCode}: {text}");
            Assert.DoesNotContain("Traceback", text, StringComparison.Ordinal);
        }

        using var ready = await _client.GetAsync("/v2/models/mlp_torch_fp64/ready");
        Assert.Equal(HttpStatusCode.BadRequest, ready.StatusCode);
    }

    /// <summary>One row of <paramref name="width"/> features.</summary>
    private static string Body(int width, string datatype = "FP32") => new JsonObject
    {
        ["inputs"] = new JsonArray(new JsonObject
        {
            ["name"] = "INPUT__0",
            ["datatype"] = datatype,
            ["shape"] = new JsonArray(1, width),
            ["data"] = new JsonArray(Enumerable.Range(0, width).Select(i => (JsonNode)(i * 0.25f)).ToArray()),
        }),
    }.ToJsonString();

    private Task<HttpResponseMessage> PostAsync(string body, string model = "mlp_torch_any_width") =>
        _client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
}

/// <summary>The classification of libtorch's final error lines, on messages as libtorch words them.</summary>
public sealed class TorchScriptRunFailureTests
{
    [Theory]
    [InlineData("RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x5 and 16x32)")]
    [InlineData("RuntimeError: The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1")]
    [InlineData("RuntimeError: shape '[2, 8]' is invalid for input of size 12")]
    [InlineData("RuntimeError: index 7 is out of bounds for dimension 0 with size 4")]
    [InlineData("RuntimeError: Given groups=1, weight of size [64, 3, 3, 3], expected input[1, 4, 64, 64] to have 3 channels, but got 4 channels instead")]
    [InlineData("builtins.ValueError: features must be non-negative")]
    [InlineData("IndexError: index out of range in self")]
    public void IsDataError_ShapeRangeAndValueChecks_AreTheRequests(string error) =>
        Assert.True(Fabrik.Execution.TorchSharp.TorchScriptRunFailure.IsDataError(error));

    [Theory]
    [InlineData("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB")]
    [InlineData("RuntimeError: CUDA error: an illegal memory access was encountered")]
    [InlineData("RuntimeError: DefaultCPUAllocator: can't allocate memory: you tried to allocate 4000000000000 bytes")]
    [InlineData("RuntimeError: \"addmm_impl_cpu_\" not implemented for 'Half'")]
    [InlineData("RuntimeError: expected m1 and m2 to have the same dtype, but got: double != float")]
    [InlineData("RuntimeError: Could not run 'aten::empty_strided' with arguments from the 'CUDA' backend")]
    [InlineData("RuntimeError: CUDA error: device-side assert triggered, index out of bounds")]
    public void IsDataError_DeviceMemoryAndRuntimeFailures_StayInternal(string error) =>
        Assert.False(Fabrik.Execution.TorchSharp.TorchScriptRunFailure.IsDataError(error));
}
