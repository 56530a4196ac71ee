using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>GET /v2/models/{m}/config and gRPC ModelConfig report the configuration the model
/// was loaded with, as config.pbtxt wrote it, identically on both protocols.</summary>
public sealed class ModelConfigEndpointTests : IAsyncLifetime
{
    private const string BatchingBlock = """
        dynamic_batching {
          preferred_batch_size: [ 2, 4 ]
          max_queue_delay_microseconds: 250
          priority_levels: 3
          default_priority_level: 2
          default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 5000 allow_timeout_override: true max_queue_size: 7 }
          priority_queue_policy { key: 1 value: { max_queue_size: 3 } }
        }
        optimization { graph { level: 1 } }
        parameters { key: "intra_op_thread_count" value: { string_value: "1" } }
        model_warmup [ { name: "zeros" batch_size: 2 count: 1 inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 16 ] zero_data: true } } inputs { key: "INPUT1" value: { data_type: TYPE_INT32 dims: [ 16 ] random_data: true } } } ]
        """;

    private readonly TemporaryRepository _repository = new TemporaryRepository()
        .Add("simple", "every", "version_policy: { all { } }").AddVersion("every", 2).AddVersion("every", 3)
        .Add("simple", "chosen", "version_policy: { specific { versions: [ 1, 3 ] } }").AddVersion("chosen", 2).AddVersion("chosen", 3)
        .Add("simple", "tuned", BatchingBlock);

    private InMemoryFabrik _server = null!;
    private HttpClient _client = null!;
    private Grpc.Net.Client.GrpcChannel _channel = null!;
    private GRPCInferenceService.GRPCInferenceServiceClient _grpc = null!;

    public async Task InitializeAsync()
    {
        _server = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path);
        _client = _server.CreateHttpClient();
        _channel = _server.CreateGrpcChannel();
        _grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        _channel.Dispose();
        await _server.DisposeAsync();
        _repository.Dispose();
    }

    [Fact]
    public async Task Config_VersionPolicyAll_IsReportedAsAllOnBothProtocols()
    {
        var http = await HttpConfigAsync("every");
        Assert.NotNull(http["version_policy"]!["all"]);
        Assert.Null(http["version_policy"]!["latest"]);

        var grpc = await GrpcConfigAsync("every");
        Assert.Equal(ModelVersionPolicy.PolicyChoiceOneofCase.All, grpc.VersionPolicy.PolicyChoiceCase);

        var metadata = JsonNode.Parse(await _client.GetStringAsync("/v2/models/every"))!;
        Assert.Equal(["1", "2", "3"], metadata["versions"]!.AsArray().Select(v => (string)v!));
    }

    [Fact]
    public async Task Config_VersionPolicySpecific_ListsTheConfiguredVersionsOnBothProtocols()
    {
        var http = await HttpConfigAsync("chosen");
        Assert.Equal(["1", "3"], http["version_policy"]!["specific"]!["versions"]!.AsArray().Select(v => (string)v!)); // int64 as strings

        var grpc = await GrpcConfigAsync("chosen");
        Assert.Equal(ModelVersionPolicy.PolicyChoiceOneofCase.Specific, grpc.VersionPolicy.PolicyChoiceCase);
        Assert.Equal([1L, 3L], grpc.VersionPolicy.Specific.Versions);
    }

    [Fact]
    public async Task Config_LatestByDefault_ReportsOneVersion()
    {
        var grpc = await GrpcConfigAsync("tuned");
        Assert.Equal(1u, grpc.VersionPolicy.Latest.NumVersions);
        Assert.Equal(1, (int)(await HttpConfigAsync("tuned"))["version_policy"]!["latest"]!["num_versions"]!);
    }

    [Fact]
    public async Task Config_BatchingQueuePoliciesOptimizationParametersAndWarmup_AreReportedAsConfigured()
    {
        var grpc = await GrpcConfigAsync("tuned");
        var batching = grpc.DynamicBatching;
        Assert.Equal([2, 4], batching.PreferredBatchSize);
        Assert.Equal((250ul, 3ul, 2ul), (batching.MaxQueueDelayMicroseconds, batching.PriorityLevels, batching.DefaultPriorityLevel));
        Assert.Equal(
            (ModelQueuePolicy.Types.TimeoutAction.Delay, 5000ul, true, 7u),
            (batching.DefaultQueuePolicy.TimeoutAction, batching.DefaultQueuePolicy.DefaultTimeoutMicroseconds, batching.DefaultQueuePolicy.AllowTimeoutOverride, batching.DefaultQueuePolicy.MaxQueueSize));
        Assert.Equal(3u, batching.PriorityQueuePolicy[1].MaxQueueSize);
        Assert.Equal(1, grpc.Optimization.Graph.Level);
        Assert.Equal("1", grpc.Parameters["intra_op_thread_count"].StringValue);
        var warmup = Assert.Single(grpc.ModelWarmup);
        Assert.Equal(("zeros", 2u, 1u), (warmup.Name, warmup.BatchSize, warmup.Count));
        Assert.True(warmup.Inputs["INPUT0"].ZeroData);
        Assert.True(warmup.Inputs["INPUT1"].RandomData);
        Assert.Equal("onnxruntime", grpc.Backend); // filled in from the platform, as Triton does

        var http = await HttpConfigAsync("tuned");
        var httpBatching = http["dynamic_batching"]!;
        Assert.Equal("DELAY", (string)httpBatching["default_queue_policy"]!["timeout_action"]!);
        Assert.Equal("5000", (string)httpBatching["default_queue_policy"]!["default_timeout_microseconds"]!);
        Assert.Equal(3, (int)httpBatching["priority_queue_policy"]!["1"]!["max_queue_size"]!);
        Assert.Equal(1, (int)http["optimization"]!["graph"]!["level"]!);
        Assert.Equal("1", (string)http["parameters"]!["intra_op_thread_count"]!["string_value"]!);
        Assert.True((bool)http["model_warmup"]![0]!["inputs"]!["INPUT0"]!["zero_data"]!);
        Assert.Equal("onnxruntime", (string)http["backend"]!);
    }

    private async Task<JsonNode> HttpConfigAsync(string model) => JsonNode.Parse(await _client.GetStringAsync($"/v2/models/{model}/config"))!;

    private async Task<ModelConfig> GrpcConfigAsync(string model) => (await _grpc.ModelConfigAsync(new ModelConfigRequest { Name = model })).Config;
}
