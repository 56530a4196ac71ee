using Fabrik.Client;
using Fabrik.Client.Protos;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>Every call but inference, over HTTP JSON, HTTP binary and gRPC, against the real
/// server in memory; the expected answers are what the sample models' config.pbtxt files say.</summary>
public sealed class FabrikClientCallsTests(ClientHost host) : IClassFixture<ClientHost>
{
    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Health_LiveReadyAndModelReady_AnswerTrueForServedModelsAndFalseForUnknownOnes(ClientMode mode)
    {
        using var client = host.Client(mode);
        Assert.True(await client.IsLiveAsync());
        Assert.True(await client.IsReadyAsync());
        Assert.True(await client.IsModelReadyAsync("simple"));
        Assert.True(await client.IsModelReadyAsync("simple", "1"));
        Assert.False(await client.IsModelReadyAsync("simple", "7"));
        Assert.False(await client.IsModelReadyAsync("no_such_model"));
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Metadata_OfServerAndModel_MatchesTheConfiguration(ClientMode mode)
    {
        using var client = host.Client(mode);
        var server = await client.GetServerMetadataAsync();
        Assert.Equal("fabrik", server.Name);
        Assert.Contains("binary_tensor_data", server.Extensions);
        Assert.Contains("model_repository", server.Extensions);

        var simple = await client.GetModelMetadataAsync("simple");
        Assert.Equal("simple", simple.Name);
        Assert.Equal(["1"], simple.Versions);
        Assert.Equal("onnxruntime_onnx", simple.Platform);
        Assert.Equal(["INPUT0", "INPUT1"], simple.Inputs.Select(input => input.Name));
        Assert.Equal(["OUTPUT0", "OUTPUT1"], simple.Outputs.Select(output => output.Name));
        // max_batch_size 8 and dims [16]: the batch dimension is variable.
        Assert.All(simple.Inputs, input => Assert.Equal([-1L, 16L], input.Shape));
        Assert.All(simple.Inputs, input => Assert.Equal(TensorDataType.Int32, input.DataType));

        var identity = await client.GetModelMetadataAsync("identity", "1");
        Assert.Equal(14, identity.Inputs.Count);
        Assert.Equal(
            ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64", "BYTES"],
            identity.Inputs.Select(input => input.Datatype));
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task ModelConfig_ReadsIntoTheSameMessageOverBothTransports(ClientMode mode)
    {
        using var client = host.Client(mode);
        var config = await client.GetModelConfigAsync("simple");
        Assert.Equal("simple", config.Name);
        Assert.Equal("onnxruntime_onnx", config.Platform);
        Assert.Equal(8, config.MaxBatchSize);
        Assert.Equal(["INPUT0", "INPUT1"], config.Input.Select(input => input.Name));
        Assert.All(config.Input, input => Assert.Equal(DataType.TypeInt32, input.DataType));
        Assert.All(config.Input, input => Assert.Equal([16L], input.Dims));
        Assert.Equal(DataType.TypeString, (await client.GetModelConfigAsync("strings")).Input[0].DataType);
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Statistics_CountAnInferenceThisTestRan(ClientMode mode)
    {
        using var client = host.Client(mode);
        var before = Assert.Single(await client.GetModelStatisticsAsync("strings"));
        using (await client.InferAsync(StringsRequest()))
        {
        }
        var after = Assert.Single(await client.GetModelStatisticsAsync("strings", "1"));
        Assert.Equal("strings", after.Name);
        Assert.Equal("1", after.Version);
        Assert.Equal(before.InferenceStats.Success.Count + 1, after.InferenceStats.Success.Count);
        Assert.True(after.InferenceStats.ComputeInfer.Ns > 0);

        var all = await client.GetModelStatisticsAsync();
        Assert.Equal(["identity", "simple", "strings"], all.Select(model => model.Name).Order());
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.Grpc)]
    public async Task RepositoryIndex_ListsTheModelsAsReady(ClientMode mode)
    {
        using var client = host.Client(mode);
        var index = await client.GetRepositoryIndexAsync();
        Assert.Equal(["identity", "simple", "strings"], index.Select(model => model.Name).Order());
        var simple = Assert.Single(index, model => model.Name == "simple");
        Assert.Equal("1", simple.Version);
        Assert.Equal("READY", simple.State);
        Assert.Equal(3, (await client.GetRepositoryIndexAsync(readyOnly: true)).Count);
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.Grpc)]
    public async Task LoadAndUnload_WithoutExplicitModelControl_AreRefusedWithTheServersReason(ClientMode mode)
    {
        using var client = host.Client(mode);
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.LoadModelAsync("simple"));
        Assert.Equal(FabrikErrorKind.Unavailable, error.Kind);
        Assert.NotNull(error.ServerMessage);
        Assert.Contains("simple", error.Message, StringComparison.Ordinal);
        Assert.True(mode == ClientMode.Grpc ? error.GrpcStatus == Grpc.Core.StatusCode.Unavailable : error.HttpStatus == 503);
        await Assert.ThrowsAsync<FabrikException>(() => client.UnloadModelAsync("simple"));
        Assert.True(await client.IsModelReadyAsync("simple"));
    }

    [Theory]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task LoadAndUnload_InExplicitMode_ChangeWhatIsServed(ClientMode mode)
    {
        using var repository = new TemporaryRepository().Add("simple").Add("strings");
        await using var fabrik = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--model-control-mode=explicit", "--load-model", "simple");
        using var client = host.Client(mode, fabrik: fabrik);
        Assert.False(await client.IsModelReadyAsync("strings"));

        await client.LoadModelAsync("strings");
        Assert.True(await client.IsModelReadyAsync("strings"));
        using (var result = await client.InferAsync(StringsRequest()))
        {
            Assert.Equal(16, result.GetStrings("OUTPUT0").Length);
        }

        await client.UnloadModelAsync("strings");
        Assert.False(await client.IsModelReadyAsync("strings"));
        var unloaded = Assert.Single(await client.GetRepositoryIndexAsync(), model => model.Name == "strings");
        Assert.Equal("UNAVAILABLE", unloaded.State);

        var missing = await Assert.ThrowsAsync<FabrikException>(() => client.LoadModelAsync("not_in_the_repository"));
        Assert.Contains("not_in_the_repository", missing.Message, StringComparison.Ordinal);
    }

    /// <summary><c>strings</c>: decimal numbers as text; OUTPUT0 is their sum, OUTPUT1 their difference.</summary>
    internal static InferRequest StringsRequest() => new InferRequest("strings")
        .WithInput(InferInput.CreateStrings("INPUT0", [.. Enumerable.Range(0, 16).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))], 1, 16))
        .WithInput(InferInput.CreateStrings("INPUT1", [.. Enumerable.Repeat("1", 16)], 1, 16));
}
