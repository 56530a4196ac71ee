using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Grpc.Core;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>
/// Nothing internal reaches a client: with broken models of both backends, a model that
/// escapes the repository and a missing model file, no HTTP body and no gRPC status carries the
/// repository's absolute path, ONNX Runtime's or libtorch's names, or a stack trace; and every
/// HTTP error carries a request id, in the body and in x-request-id.
/// </summary>
public sealed class RedactionTests
{
    private static readonly string[] Forbidden = ["Microsoft.ML.OnnxRuntime", "libtorch", "   at ", "Exception raised from", "/tmp/"];

    [Fact]
    public async Task ErrorsAndReasons_CarryNoServerPathsOrNativeText()
    {
        using var outside = new TemporaryRepository().Add("simple");
        using var repository = new TemporaryRepository().Add("simple").Add("simple", "corrupt").Add("mlp_torch", "corrupt_torch").Add("simple", "missing");
        File.WriteAllBytes(Path.Combine(repository.Path, "corrupt", "1", "model.onnx"), [1, 2, 3, 4, 5, 6, 7, 8]);
        File.WriteAllBytes(Path.Combine(repository.Path, "corrupt_torch", "1", "model.pt"), [0x50, 0x4b, 3, 4, 9, 9, 9, 9]);
        File.Delete(Path.Combine(repository.Path, "missing", "1", "model.onnx"));
        Directory.CreateSymbolicLink(Path.Combine(repository.Path, "escape"), Path.Combine(outside.Path, "simple"));
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--exit-on-error=false");
        using var http = host.CreateHttpClient();
        using var channel = host.CreateGrpcChannel();
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);

        var texts = new List<(string What, string Text)>();
        var index = await http.PostAsync("/v2/repository/index", null);
        var indexBody = await index.Content.ReadAsStringAsync();
        texts.Add(("index", indexBody));
        // The reasons are there, in the operator's terms.
        var reasons = JsonNode.Parse(indexBody)!.AsArray().ToDictionary(entry => (string)entry!["name"]!, entry => (string?)entry!["reason"] ?? "");
        foreach (var broken in new[] { "corrupt", "corrupt_torch", "missing", "escape" })
        {
            Assert.False(string.IsNullOrWhiteSpace(reasons[broken]), broken);
        }
        Assert.Contains("outside the model repository", reasons["escape"], StringComparison.Ordinal);
        Assert.Contains("model.onnx", reasons["missing"], StringComparison.Ordinal);

        var body = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() };
        foreach (var model in new[] { "simple", "corrupt", "corrupt_torch", "missing", "escape", "..%2Fsimple", "nonexistent" })
        {
            foreach (var response in new[]
            {
                await http.GetAsync($"/v2/models/{model}"),
                await http.GetAsync($"/v2/models/{model}/config"),
                await http.PostAsJsonAsync($"/v2/models/{model}/infer", body),
                await http.PostAsync($"/v2/models/{model}/infer", new StringContent("{\"inputs\": [")),
                await http.PostAsync($"/v2/repository/models/{model}/load", null),
            })
            {
                var text = await response.Content.ReadAsStringAsync();
                texts.Add(($"{response.RequestMessage!.Method} {response.RequestMessage.RequestUri}", text));
                if (!response.IsSuccessStatusCode)
                {
                    var requestId = Assert.Single(response.Headers.GetValues("x-request-id"));
                    Assert.Equal(requestId, (string?)JsonNode.Parse(text)!["request_id"]);
                }
            }
            var call = grpc.ModelInferAsync(new ModelInferRequest { ModelName = model });
            try
            {
                await call.ResponseAsync;
            }
            catch (RpcException e)
            {
                texts.Add(($"gRPC infer {model}", e.Status.Detail));
            }
        }
        var grpcIndex = await grpc.RepositoryIndexAsync(new RepositoryIndexRequest());
        texts.Add(("gRPC index", grpcIndex.ToString()));

        var roots = new[] { repository.Path, outside.Path, new DirectoryInfo(repository.Path).ResolveLinkTarget(true)?.FullName ?? repository.Path };
        foreach (var (what, text) in texts)
        {
            foreach (var forbidden in Forbidden.Concat(roots))
            {
                Assert.False(text.Contains(forbidden, StringComparison.Ordinal), $"{what} leaks '{forbidden}': {text}");
            }
        }
    }
}
