using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Fabrik.Tests.Security;
using Fabrik.Tests.Support;
using Grpc.Core;
using Xunit;

namespace Fabrik.Tests.Caching;

/// <summary>
/// With API keys on, a cached answer goes only to a caller allowed to infer on its model: a
/// caller whose key lacks <c>infer</c> on the model is refused (403, PERMISSION_DENIED) exactly as
/// without the cache, even for the very request another caller just had cached, and the refused
/// request is not counted as a hit.
/// </summary>
public sealed class ResponseCacheAccessTests : IAsyncLifetime
{
    private const string MlpKey = "mlp-2f9c81d0aa";
    private const string SimpleKey = "simple-6b3e0f7c21";
    private const string StatsKey = "stats-0c4d9e2b77";

    private readonly TemporaryRepository _repository = new TemporaryRepository()
        .Add("mlp", extraConfig: "response_cache { enable: true }").Add("simple", extraConfig: "response_cache { enable: true }");
    private string _keyFile = "";
    private InMemoryFabrik? _host;
    private HttpClient _http = null!;
    private Grpc.Net.Client.GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        _keyFile = Path.Combine(_repository.Path, "..", $"keys-{Guid.NewGuid():N}.json");
        File.WriteAllText(_keyFile, AuthTests.KeyFile(
            ("mlp-caller", MlpKey, ["infer:mlp"]),
            ("simple-caller", SimpleKey, ["infer:simple"]),
            ("monitor", StatsKey, ["stats"])));
        var options = ServerOptions.Parse(["--model-repository", _repository.Path, "--auth-keys", _keyFile, "--cache-config", "local,size=1048576"]);
        _host = await InMemoryFabrik.StartAsync(options with { Security = options.Security with { AuthFailuresPerMinute = 1000 } });
        _http = _host.CreateHttpClient();
        _channel = _host.CreateGrpcChannel();
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        _channel.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
        File.Delete(_keyFile);
        _repository.Dispose();
    }

    [Fact]
    public async Task Http_ACallerWithoutInferOnTheModel_NeverGetsItsCachedAnswer()
    {
        var body = new JsonObject { ["inputs"] = Samples.Sample("mlp", 0)["inputs"]!.DeepClone() };
        Assert.Equal(HttpStatusCode.OK, await PostAsync(MlpKey, body));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(MlpKey, body)); // a hit for its owner
        var before = await CountsAsync();

        Assert.Equal(HttpStatusCode.Forbidden, await PostAsync(SimpleKey, body));
        Assert.Equal(HttpStatusCode.Unauthorized, await PostAsync(null, body));

        Assert.Equal(default(CacheCounts), await CountsAsync() - before);
    }

    [Fact]
    public async Task Grpc_ACallerWithoutInferOnTheModel_NeverGetsItsCachedAnswer()
    {
        var request = GrpcSamples.RawRequest("mlp", Samples.Sample("mlp", 1));
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        await grpc.ModelInferAsync(request, Bearer(MlpKey));
        await grpc.ModelInferAsync(request, Bearer(MlpKey));
        var before = await CountsAsync();

        var refused = await Assert.ThrowsAsync<RpcException>(() => grpc.ModelInferAsync(request, Bearer(SimpleKey)).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);

        Assert.Equal(default(CacheCounts), await CountsAsync() - before);
    }

    private static Metadata Bearer(string key) => new() { { "authorization", $"Bearer {key}" } };

    private Task<CacheCounts> CountsAsync() => CacheCounts.ReadAsync(_http, "mlp", StatsKey);

    private async Task<HttpStatusCode> PostAsync(string? key, JsonObject body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/mlp/infer") { Content = JsonContent.Create(body) };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        using var response = await _http.SendAsync(request);
        return response.StatusCode;
    }
}
