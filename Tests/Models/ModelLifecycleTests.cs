using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Models;

/// <summary>Repository layout, versions, auto-complete, control modes and path safety, through
/// the real server.</summary>
public sealed class ModelLifecycleTests
{
    private static readonly string SimpleBody = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString();

    [Fact]
    public async Task VersionPolicyAll_ServesTwoVersionsAndDefaultsToTheLatest()
    {
        using var repository = new TemporaryRepository().Add("simple", extraConfig: "version_policy { all {} }").AddVersion("simple", 2);
        await using var server = await StartAsync(repository);
        using var client = Client(server);

        Assert.Equal("1", (string)(await InferAsync(client, "/v2/models/simple/versions/1/infer"))["model_version"]!);
        Assert.Equal("2", (string)(await InferAsync(client, "/v2/models/simple/versions/2/infer"))["model_version"]!);
        Assert.Equal("2", (string)(await InferAsync(client, "/v2/models/simple/infer"))["model_version"]!);
        var metadata = JsonNode.Parse(await client.GetStringAsync("/v2/models/simple"))!;
        Assert.Equal(["1", "2"], metadata["versions"]!.AsArray().Select(v => (string)v!));
        var stats = JsonNode.Parse(await client.GetStringAsync("/v2/models/simple/stats"))!["model_stats"]!.AsArray();
        Assert.Equal(["1", "2"], stats.Select(s => (string)s!["version"]!));
        Assert.All(stats, s => Assert.True((long)s!["inference_count"]! >= 1));
    }

    [Fact]
    public async Task DefaultPolicy_ServesOnlyTheLatestVersion()
    {
        using var repository = new TemporaryRepository().Add("simple").AddVersion("simple", 3);
        await using var server = await StartAsync(repository);
        using var client = Client(server);
        using var old = await client.PostAsync("/v2/models/simple/versions/1/infer", Json(SimpleBody));
        Assert.Equal(HttpStatusCode.NotFound, old.StatusCode);
        Assert.Equal("3", (string)(await InferAsync(client, "/v2/models/simple/infer"))["model_version"]!);
    }

    [Fact]
    public async Task OnnxWithoutConfig_IsAutoCompletedFromTheModel()
    {
        using var repository = new TemporaryRepository().Add("simple", "auto").WithoutConfig("auto");
        await using var server = await StartAsync(repository);
        using var client = Client(server);

        var metadata = JsonNode.Parse(await client.GetStringAsync("/v2/models/auto"))!;
        Assert.Equal("onnxruntime_onnx", (string)metadata["platform"]!);
        Assert.Equal(["INPUT0", "INPUT1"], metadata["inputs"]!.AsArray().Select(i => (string)i!["name"]!));
        Assert.All(metadata["inputs"]!.AsArray(), i => Assert.Equal([-1L, 16L], TensorAssert.Longs(i!["shape"]!)));
        var config = JsonNode.Parse(await client.GetStringAsync("/v2/models/auto/config"))!;
        Assert.Equal(4, (int)config["max_batch_size"]!); // every tensor has a variable first dimension

        var sample = Samples.Sample("simple", 0);
        var output = await InferAsync(client, "/v2/models/auto/infer");
        TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), output["outputs"]!.AsArray(), 0);
    }

    [Fact]
    public async Task AutoCompleteDisabled_MissingConfigMakesTheModelUnavailable()
    {
        using var repository = new TemporaryRepository().Add("simple", "auto").WithoutConfig("auto").Add("simple");
        await using var server = await StartAsync(repository, "--disable-auto-complete-config");
        var entry = server.Server.Models.Models["auto"];
        Assert.Equal(Fabrik.Models.ModelState.Unavailable, entry.State);
        Assert.Contains("auto-complete is disabled", entry.Reason, StringComparison.Ordinal);
        Assert.Equal(Fabrik.Models.ModelState.Ready, server.Server.Models.Models["simple"].State);
    }

    [Fact]
    public async Task TorchScriptWithoutTensorNames_FailsNamingTritonsConvention()
    {
        using var repository = new TemporaryRepository().Add("mlp_torch", "unnamed");
        File.WriteAllText(Path.Combine(repository.Path, "unnamed", "config.pbtxt"), "platform: \"pytorch_libtorch\"\nmax_batch_size: 8\n");
        await using var server = await StartAsync(repository);
        Assert.Contains("INPUT__0", server.Server.Models.Models["unnamed"].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExplicitMode_LoadAndUnloadWhileAnotherModelServes_NoFailedRequests()
    {
        using var repository = new TemporaryRepository().Add("simple").Add("mlp");
        await using var server = await StartAsync(repository, "--model-control-mode=explicit", "--load-model=simple");
        using var client = Client(server);
        Assert.False(server.Server.Models.Models.ContainsKey("mlp"));

        var (traffic, stop, failures) = KeepInferring(client, "/v2/models/simple/infer", SimpleBody);
        var mlpBody = new JsonObject { ["inputs"] = Samples.Sample("mlp", 0)["inputs"]!.DeepClone() }.ToJsonString();
        for (var round = 0; round < 3; round++)
        {
            await PostOkAsync(client, "/v2/repository/models/mlp/load");
            using (var served = await client.PostAsync("/v2/models/mlp/infer", Json(mlpBody)))
            {
                Assert.Equal(HttpStatusCode.OK, served.StatusCode);
            }
            await PostOkAsync(client, "/v2/repository/models/mlp/unload");
            using var gone = await client.PostAsync("/v2/models/mlp/infer", Json(mlpBody));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, gone.StatusCode);
        }
        await stop.CancelAsync();
        var completed = await traffic;

        Assert.True(completed > 0);
        Assert.Empty(failures);
        using var index = await client.PostAsync("/v2/repository/index", Json(""));
        var mlp = JsonNode.Parse(await index.Content.ReadAsStringAsync())!.AsArray().Single(m => (string)m!["name"]! == "mlp")!;
        Assert.Equal("UNAVAILABLE", (string)mlp["state"]!);
        Assert.Equal("unloaded", (string)mlp["reason"]!);
    }

    [Fact]
    public async Task ExplicitMode_RepositoryIndex_ListsModelsNeverLoadedByNameOnly()
    {
        using var repository = new TemporaryRepository().Add("simple").Add("mlp").Add("strings");
        await using var server = await StartAsync(repository, "--model-control-mode=explicit", "--load-model=simple");
        using var client = Client(server);

        using var index = await client.PostAsync("/v2/repository/index", Json(""));
        var rows = JsonNode.Parse(await index.Content.ReadAsStringAsync())!.AsArray();
        Assert.Equal(["mlp", "simple", "strings"], rows.Select(row => (string)row!["name"]!));
        var mlp = rows.Single(row => (string)row!["name"]! == "mlp")!.AsObject();
        Assert.Equal(["name"], mlp.Select(property => property.Key)); // never loaded: no version, state or reason
        Assert.Equal("READY", (string)rows.Single(row => (string)row!["name"]! == "simple")!["state"]!);

        using var readyOnly = await client.PostAsync("/v2/repository/index", Json("{\"ready\": true}"));
        Assert.Equal(["simple"], JsonNode.Parse(await readyOnly.Content.ReadAsStringAsync())!.AsArray().Select(row => (string)row!["name"]!));
    }

    [Fact]
    public async Task ExplicitMode_ReloadUnderLoad_NoFailedRequests()
    {
        using var repository = new TemporaryRepository().Add("simple", extraConfig: "dynamic_batching { max_queue_delay_microseconds: 1000 }");
        await using var server = await StartAsync(repository, "--model-control-mode=explicit", "--load-model=*");
        using var client = Client(server);

        var (traffic, stop, failures) = KeepInferring(client, "/v2/models/simple/infer", SimpleBody, workers: 8);
        for (var reload = 0; reload < 5; reload++)
        {
            await PostOkAsync(client, "/v2/repository/models/simple/load");
        }
        await stop.CancelAsync();
        var completed = await traffic;

        Assert.True(completed > 0);
        Assert.Empty(failures);
        Assert.True(SpinWait.SpinUntil(() => server.Server.TensorPool.Outstanding == 0, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task PollMode_PicksUpNewChangedAndRemovedModels()
    {
        using var repository = new TemporaryRepository().Add("simple");
        await using var server = await StartAsync(repository, "--model-control-mode=poll", "--repository-poll-secs=3600");
        using var client = Client(server);

        repository.Add("mlp");
        await server.Server.Poller.PollOnceAsync(default);
        Assert.Equal(Fabrik.Models.ModelState.Ready, server.Server.Models.Models["mlp"].State);

        repository.AddVersion("simple", 2);
        await server.Server.Poller.PollOnceAsync(default);
        Assert.Equal("2", (string)(await InferAsync(client, "/v2/models/simple/infer"))["model_version"]!);

        Directory.Delete(Path.Combine(repository.Path, "mlp"), recursive: true);
        await server.Server.Poller.PollOnceAsync(default);
        Assert.Equal(Fabrik.Models.ModelState.Unavailable, server.Server.Models.Models["mlp"].State);

        using var refused = await client.PostAsync("/v2/repository/models/mlp/load", Json(""));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode); // the APIs belong to explicit mode
    }

    [Theory]
    [InlineData("/v2/repository/models/..%2F..%2Fetc/load")]
    [InlineData("/v2/repository/models/.hidden/load")]
    [InlineData("/v2/repository/models/%2Fetc%2Fpasswd/load")]
    [InlineData("/v2/repository/models/escape/load")]
    public async Task ExplicitMode_PathTraversalInLoad_Is400(string path)
    {
        using var outside = new TemporaryRepository().Add("simple");
        using var repository = new TemporaryRepository().Add("simple");
        Directory.CreateSymbolicLink(Path.Combine(repository.Path, "escape"), Path.Combine(outside.Path, "simple"));
        await using var server = await StartAsync(repository, "--model-control-mode=explicit");
        using var client = Client(server);

        using var response = await client.PostAsync(path, Json(""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace((string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]));
        Assert.DoesNotContain(server.Server.Models.Models.Values, entry => entry.State == Fabrik.Models.ModelState.Ready && entry.Name != "simple");
    }

    [Fact]
    public async Task SymlinkOutOfTheRepository_IsNotLoadedAtStart()
    {
        using var outside = new TemporaryRepository().Add("simple");
        using var repository = new TemporaryRepository().Add("simple");
        Directory.CreateSymbolicLink(Path.Combine(repository.Path, "escape"), Path.Combine(outside.Path, "simple"));
        await using var server = await StartAsync(repository);

        var escape = server.Server.Models.Models["escape"];
        Assert.Equal(Fabrik.Models.ModelState.Unavailable, escape.State);
        Assert.Contains("outside the model repository", escape.Reason, StringComparison.Ordinal);
        using var client = Client(server);
        using var infer = await client.PostAsync("/v2/models/..%2Fsimple/infer", Json(SimpleBody));
        Assert.Equal(HttpStatusCode.BadRequest, infer.StatusCode);
    }

    [Theory]
    [InlineData("../../../../outside.bin", "outside the model repository")]
    [InlineData("/etc/passwd", "absolute path")]
    public async Task OnnxExternalDataOutsideTheRepository_IsRefused(string location, string reason)
    {
        using var repository = new TemporaryRepository().Add("simple", "leaky").Add("simple");
        File.WriteAllBytes(Path.Combine(repository.Path, "leaky", "1", "model.onnx"), OnnxWithExternalData(location));
        await using var server = await StartAsync(repository);

        var leaky = server.Server.Models.Models["leaky"];
        Assert.Equal(Fabrik.Models.ModelState.Unavailable, leaky.State);
        Assert.Contains(reason, leaky.Reason, StringComparison.Ordinal);
        Assert.Equal(Fabrik.Models.ModelState.Ready, server.Server.Models.Models["simple"].State);
    }

    /// <summary>A minimal ONNX ModelProto, encoded by hand: one initializer whose data lives in an
    /// external file at <paramref name="location"/> (field numbers from onnx.proto).</summary>
    private static byte[] OnnxWithExternalData(string location)
    {
        static byte[] Field(int number, byte[] value) => [(byte)((number << 3) | 2), .. Varint(value.Length), .. value];
        static byte[] Varint(int value)
        {
            var bytes = new List<byte>();
            while (value >= 0x80)
            {
                bytes.Add((byte)(value | 0x80));
                value >>= 7;
            }
            bytes.Add((byte)value);
            return [.. bytes];
        }
        var entry = (byte[])[.. Field(1, Encoding.UTF8.GetBytes("location")), .. Field(2, Encoding.UTF8.GetBytes(location))];
        var tensor = (byte[])[.. Field(8, Encoding.UTF8.GetBytes("w")), .. Field(13, entry), 14 << 3, 1]; // data_location = EXTERNAL
        var graph = Field(5, tensor);
        return [0x08, 0x08, .. Field(7, graph)]; // ir_version 8, graph
    }

    [Fact]
    public async Task ModelWarmup_RunsBeforeReadyAndFailsTheLoadWhenASampleFails()
    {
        const string ZeroAndFile = """
            model_warmup [
              { name: "zeros" batch_size: 8 count: 2
                inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 16 ] zero_data: true } }
                inputs { key: "INPUT1" value: { data_type: TYPE_INT32 dims: [ 16 ] random_data: true } } },
              { name: "from file" batch_size: 1
                inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 16 ] input_data_file: "input0.bin" } }
                inputs { key: "INPUT1" value: { data_type: TYPE_INT32 dims: [ 16 ] input_data_file: "input0.bin" } } }
            ]
            """;
        using var repository = new TemporaryRepository()
            .Add("simple", "warm", ZeroAndFile)
            .Add("simple", "nofile", ZeroAndFile)
            .Add("simple", "baddims", """model_warmup [ { name: "wrong" batch_size: 1 inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 15 ] zero_data: true } } inputs { key: "INPUT1" value: { data_type: TYPE_INT32 dims: [ 15 ] zero_data: true } } } ]""")
            .Add("mlp", extraConfig: """model_warmup [ { name: "random" batch_size: 32 inputs { key: "INPUT0" value: { data_type: TYPE_FP32 dims: [ 16 ] random_data: true } } } ]""");
        Directory.CreateDirectory(Path.Combine(repository.Path, "warm", "warmup"));
        File.WriteAllBytes(Path.Combine(repository.Path, "warm", "warmup", "input0.bin"), new byte[64]);
        await using var server = await StartAsync(repository);

        Assert.Equal(Fabrik.Models.ModelState.Ready, server.Server.Models.Models["warm"].State);
        Assert.Equal(Fabrik.Models.ModelState.Ready, server.Server.Models.Models["mlp"].State);
        Assert.Contains("model_warmup sample 'from file' failed", server.Server.Models.Models["nofile"].Reason, StringComparison.Ordinal);
        Assert.Contains("model_warmup sample 'wrong' failed", server.Server.Models.Models["baddims"].Reason, StringComparison.Ordinal);
        Assert.Equal(0, server.Server.Models.Resolve("warm", null).Statistics.InferenceCount); // warm-up is not traffic
    }

    [Fact]
    public async Task Reshape_ClientsSeeDimsWhileTheModelSeesItsOwnShape()
    {
        using var repository = new TemporaryRepository().Add("simple", "square");
        File.WriteAllText(Path.Combine(repository.Path, "square", "config.pbtxt"), """
            platform: "onnxruntime_onnx"
            max_batch_size: 8
            input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 4, 4 ] reshape: { shape: [ 16 ] } },
                    { name: "INPUT1" data_type: TYPE_INT32 dims: [ 4, 4 ] reshape: { shape: [ 16 ] } } ]
            output [ { name: "OUTPUT0" data_type: TYPE_INT32 dims: [ 2, 8 ] reshape: { shape: [ 16 ] } },
                     { name: "OUTPUT1" data_type: TYPE_INT32 dims: [ 16 ] } ]
            """);
        await using var server = await StartAsync(repository);
        using var client = Client(server);
        var a = Enumerable.Range(0, 32).ToArray();
        var b = Enumerable.Range(0, 32).Select(i => 100 - i).ToArray();
        var body = $$"""{"inputs":[{"name":"INPUT0","datatype":"INT32","shape":[2,4,4],"data":[{{string.Join(",", a)}}]},{"name":"INPUT1","datatype":"INT32","shape":[2,4,4],"data":[{{string.Join(",", b)}}]}]}""";

        using var response = await client.PostAsync("/v2/models/square/infer", Json(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var outputs = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]!.AsArray();
        Assert.Equal([2L, 2L, 8L], TensorAssert.Longs(outputs[0]!["shape"]!));
        Assert.Equal(a.Zip(b, (x, y) => x + y), TensorAssert.Flatten(outputs[0]!["data"]!).Select(v => v.GetValue<int>()));
        Assert.Equal([2L, 16L], TensorAssert.Longs(outputs[1]!["shape"]!));
        Assert.Equal(a.Zip(b, (x, y) => x - y), TensorAssert.Flatten(outputs[1]!["data"]!).Select(v => v.GetValue<int>()));
    }

    [Fact]
    public async Task LoadBody_WithModelFiles_IsRefused()
    {
        using var repository = new TemporaryRepository().Add("simple");
        await using var server = await StartAsync(repository, "--model-control-mode=explicit");
        using var client = Client(server);
        using var response = await client.PostAsync("/v2/repository/models/simple/load", Json("{\"parameters\":{\"file:1/model.onnx\":\"AAAA\"}}"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("does not accept model files", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Layout_RepeatedRepositoriesDefaultModelFilenameAndVersionFolders_FollowTriton()
    {
        using var first = new TemporaryRepository().Add("simple", extraConfig: "default_model_filename: \"custom.onnx\"");
        File.Move(Path.Combine(first.Path, "simple", "1", "model.onnx"), Path.Combine(first.Path, "simple", "1", "custom.onnx"));
        Directory.CreateDirectory(Path.Combine(first.Path, "simple", "01"));      // leading zero: ignored
        Directory.CreateDirectory(Path.Combine(first.Path, "simple", "latest"));  // not numeric: ignored
        using var second = new TemporaryRepository().Add("mlp");
        await using var server = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--metrics-port=0", "--model-repository", first.Path, "--model-repository", second.Path]));
        using var client = Client(server);

        Assert.Equal("1", (string)(await InferAsync(client, "/v2/models/simple/infer"))["model_version"]!);
        Assert.Equal(Fabrik.Models.ModelState.Ready, server.Server.Models.Models["mlp"].State);
        var config = JsonNode.Parse(await client.GetStringAsync("/v2/models/simple/config"))!;
        Assert.Equal("custom.onnx", (string)config["default_model_filename"]!);
    }

    /// <summary>Workers that infer until stopped; returns how many succeeded and every failure.</summary>
    private static (Task<int> Completed, CancellationTokenSource Stop, List<string> Failures) KeepInferring(HttpClient client, string path, string body, int workers = 4)
    {
        var stop = new CancellationTokenSource();
        var failures = new List<string>();
        var completed = 0;
        var tasks = Enumerable.Range(0, workers).Select(async _ =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await client.PostAsync(path, Json(body));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref completed);
                }
                else
                {
                    lock (failures)
                    {
                        failures.Add($"{(int)response.StatusCode}: {response.Content.ReadAsStringAsync().Result}");
                    }
                }
            }
        }).ToArray();
        return (Task.WhenAll(tasks).ContinueWith(_ => completed, TaskScheduler.Default), stop, failures);
    }

    private static async Task PostOkAsync(HttpClient client, string path)
    {
        using var response = await client.PostAsync(path, Json(""));
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task<JsonNode> InferAsync(HttpClient client, string path)
    {
        using var response = await client.PostAsync(path, Json(SimpleBody));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    // Answers are checked for server internals (temporary repository paths included).
    private static HttpClient Client(InMemoryFabrik server) =>
        new(new LeakCheckingHandler(server.CreateHandler())) { BaseAddress = server.CreateHttpClient().BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    private static Task<InMemoryFabrik> StartAsync(TemporaryRepository repository, params string[] flags) =>
        InMemoryFabrik.StartAsync(ServerOptions.Parse(["--metrics-port=0", "--model-repository", repository.Path, "--exit-on-error=false", .. flags]));
}
