using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Fabrik.Tests.Models;

/// <summary>
/// Model files that ONNX Runtime or libtorch refuse (empty, random bytes) are answered in the
/// server's own words on every way a caller can ask (the load API over HTTP and gRPC, the
/// repository index over both), and the libraries' own messages reach the server log only.
/// </summary>
public sealed class NativeLoadErrorTests : IAsyncLifetime
{
    /// <summary>Phrases of ONNX Runtime's and libtorch's own messages (none is ours).</summary>
    private static readonly string[] NativePhrases =
        ["ErrorCode", "No graph was found", "Load model from", "Protobuf parsing", "Pytorch", "zip archive", "central directory", "Exception raised from", "INVALID_"];

    private readonly TemporaryRepository _repository = new();
    private readonly CapturedLog _log = new();
    private FabrikServer _server = null!;
    private HttpClient _http = null!;
    private GrpcChannel _channel = null!;
    private GRPCInferenceService.GRPCInferenceServiceClient _grpc = null!;

    public async Task InitializeAsync()
    {
        var random = new Random(20261204);
        var noise = new byte[4096];
        random.NextBytes(noise);
        // With a config.pbtxt (the backend's session or module is the first to read the file) ...
        _repository.Add("simple", "empty_onnx").Add("simple", "random_onnx").Add("mlp_torch", "empty_pt").Add("mlp_torch", "random_pt");
        File.WriteAllBytes(ModelFile("empty_onnx", "model.onnx"), []);
        File.WriteAllBytes(ModelFile("random_onnx", "model.onnx"), noise);
        File.WriteAllBytes(ModelFile("empty_pt", "model.pt"), []);
        File.WriteAllBytes(ModelFile("random_pt", "model.pt"), noise);
        // ... and without one (auto-complete opens the ONNX file first).
        Directory.CreateDirectory(Path.Combine(_repository.Path, "bare_onnx", "1"));
        File.WriteAllBytes(ModelFile("bare_onnx", "model.onnx"), []);

        var options = ServerOptions.Parse(["--model-repository", _repository.Path, "--model-control-mode=explicit",
            "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"]);
        _server = await FabrikServer.StartAsync(options, configureHost: web => web.ConfigureLogging(logging => logging.AddProvider(_log)));
        _http = new HttpClient { BaseAddress = _server.HttpAddress, Timeout = TimeSpan.FromSeconds(60) };
        _channel = GrpcChannel.ForAddress(_server.GrpcAddress!);
        _grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        _channel.Dispose();
        await _server.DisposeAsync();
        _repository.Dispose();
    }

    private string ModelFile(string model, string file) => Path.Combine(_repository.Path, model, "1", file);

    [Theory]
    [InlineData("empty_onnx", "model.onnx is not a valid ONNX model: the file is empty")]
    [InlineData("bare_onnx", "model.onnx is not a valid ONNX model: the file is empty")]
    [InlineData("random_onnx", "model.onnx is not a valid ONNX")]
    [InlineData("empty_pt", "model.pt is not a TorchScript archive: the file is empty")]
    [InlineData("random_pt", "model.pt is not a TorchScript archive")]
    public async Task LoadOfAnUnreadableModelFile_IsAnsweredInOurWords_OverHttpGrpcAndTheIndex(string model, string expected)
    {
        using var load = await _http.PostAsync($"/v2/repository/models/{model}/load", new StringContent("", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, load.StatusCode);
        var loadError = (string)JsonNode.Parse(await load.Content.ReadAsStringAsync())!["error"]!;
        AssertOurWords(loadError, expected);

        var grpcError = await Assert.ThrowsAsync<RpcException>(() => _grpc.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = model }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, grpcError.StatusCode);
        AssertOurWords(grpcError.Status.Detail, expected);

        using var index = await _http.PostAsync("/v2/repository/index", new StringContent("{}", Encoding.UTF8, "application/json"));
        var entry = JsonNode.Parse(await index.Content.ReadAsStringAsync())!.AsArray().Single(item => (string?)item!["name"] == model)!;
        Assert.Equal("UNAVAILABLE", (string?)entry["state"]);
        AssertOurWords((string)entry["reason"]!, expected);

        var grpcIndex = await _grpc.RepositoryIndexAsync(new RepositoryIndexRequest());
        AssertOurWords(grpcIndex.Models.Single(item => item.Name == model).Reason, expected);
    }

    [Fact]
    public async Task TheLibrariesOwnMessages_ReachTheServerLog()
    {
        foreach (var model in new[] { "empty_onnx", "random_pt" })
        {
            using var load = await _http.PostAsync($"/v2/repository/models/{model}/load", new StringContent("", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, load.StatusCode);
        }
        var logged = string.Join("\n", _log.Entries.Select(entry => entry.Message));
        Assert.Contains("No graph was found", logged, StringComparison.Ordinal);
        Assert.Contains("PytorchStreamReader", logged, StringComparison.Ordinal);
    }

    private static void AssertOurWords(string text, string expected)
    {
        Assert.Contains(expected, text, StringComparison.Ordinal);
        foreach (var phrase in NativePhrases)
        {
            Assert.DoesNotContain(phrase, text, StringComparison.OrdinalIgnoreCase);
        }
    }
}
