using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Security;

/// <summary>
/// API keys and scopes over HTTP and gRPC on the real pipeline: a matrix of keys x endpoints
/// with the answer each must get, written out by hand from the scopes in the key file.
/// </summary>
public sealed class AuthTests : IAsyncLifetime
{
    // Keys and the file that holds only their hashes.
    private const string CiKey = "ci-0f5c2d7a9b";
    private const string OpsKey = "ops-71aa90c3e4";
    private const string AdminKey = "admin-d03b6e11f8";
    private const string ReaderKey = "reader-55e0c9b2a4";

    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("simple").Add("mlp");
    private string _keyFile = "";
    private InMemoryFabrik? _host;
    private HttpClient _http = null!;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        _keyFile = Path.Combine(_repository.Path, "..", $"keys-{Guid.NewGuid():N}.json");
        File.WriteAllText(_keyFile, KeyFile(
            ("ci", CiKey, ["infer:simple", "infer:mlp*", "metadata", "stats"]),
            ("ops", OpsKey, ["repository", "stats"]),
            ("admin", AdminKey, ["admin"]),
            ("reader", ReaderKey, ["metadata"])));
        _host = await StartAsync(_keyFile);
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

    private async Task<InMemoryFabrik> StartAsync(string keyFile, int failuresPerMinute = 1000, params string[] flags)
    {
        var options = ServerOptions.Parse(["--model-repository", _repository.Path, "--auth-keys", keyFile, .. flags]);
        return await InMemoryFabrik.StartAsync(options with
        {
            Security = options.Security with { AuthFailuresPerMinute = failuresPerMinute, AuthReloadCheckInterval = TimeSpan.Zero },
        });
    }

    internal static string KeyFile(params (string Id, string Key, string[] Scopes)[] keys) =>
        new JsonObject
        {
            ["keys"] = new JsonArray([.. keys.Select(key => new JsonObject
            {
                ["id"] = key.Id,
                ["sha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.Key))),
                ["scopes"] = new JsonArray([.. key.Scopes.Select(scope => (JsonNode)scope)]),
            })]),
        }.ToJsonString();

    private static string? KeyOf(string who) => who switch
    {
        "none" => null,
        "wrong" => "not-a-key",
        "ci" => CiKey,
        "ops" => OpsKey,
        "admin" => AdminKey,
        "reader" => ReaderKey,
        _ => throw new ArgumentException(who),
    };

    // 200 allowed (the endpoint's own answer), 401 unknown caller, 403 scope missing;
    // "secret" is a model no key may infer on but admin, whose request then reaches routing (404).
    [Theory]
    [InlineData("GET /v2/health/ready", "none:200 wrong:200 ci:200 ops:200 admin:200 reader:200")]
    [InlineData("GET /v2/models/simple/ready", "none:200 wrong:200 ci:200 ops:200 admin:200 reader:200")]
    [InlineData("GET /v2", "none:401 wrong:401 ci:200 ops:403 admin:200 reader:200")]
    [InlineData("GET /v2/models/simple", "none:401 wrong:401 ci:200 ops:403 admin:200 reader:200")]
    [InlineData("GET /v2/models/simple/config", "none:401 wrong:401 ci:200 ops:403 admin:200 reader:200")]
    [InlineData("GET /v2/models/stats", "none:401 wrong:401 ci:200 ops:200 admin:200 reader:403")]
    [InlineData("GET /v2/models/simple/stats", "none:401 wrong:401 ci:200 ops:200 admin:200 reader:403")]
    [InlineData("POST /v2/repository/index", "none:401 wrong:401 ci:403 ops:200 admin:200 reader:403")]
    [InlineData("POST /v2/models/simple/infer", "none:401 wrong:401 ci:200 ops:403 admin:200 reader:403")]
    [InlineData("POST /v2/models/simple/versions/1/infer", "none:401 wrong:401 ci:200 ops:403 admin:200 reader:403")]
    [InlineData("POST /v2/models/mlp/infer", "none:401 wrong:401 ci:200 ops:403 admin:200 reader:403")]
    [InlineData("POST /v2/models/secret/infer", "none:401 wrong:401 ci:403 ops:403 admin:404 reader:403")]
    [InlineData("GET /v2/trace/setting", "none:401 wrong:401 ci:403 ops:403 admin:200 reader:403")]
    [InlineData("GET /v2/models/simple/trace/setting", "none:401 wrong:401 ci:403 ops:403 admin:200 reader:403")]
    public async Task Http_KeysTimesEndpoints(string endpoint, string expectations)
    {
        var (method, path) = (endpoint.Split(' ')[0], endpoint.Split(' ')[1]);
        foreach (var expectation in expectations.Split(' '))
        {
            var who = expectation.Split(':')[0];
            var expected = int.Parse(expectation.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (KeyOf(who) is { } key)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }
            if (path.EndsWith("/infer", StringComparison.Ordinal))
            {
                var model = path.Contains("mlp", StringComparison.Ordinal) ? "mlp" : "simple";
                request.Content = JsonContent.Create(new JsonObject { ["inputs"] = Samples.Sample(model, 0)["inputs"]!.DeepClone() });
            }
            using var response = await _http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(expected == (int)response.StatusCode, $"{who} {endpoint}: expected {expected}, got {(int)response.StatusCode} {body}");
            if (expected == 401)
            {
                Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            }
            if (expected is 401 or 403)
            {
                Assert.NotNull(JsonNode.Parse(body)!["error"]);
                Assert.DoesNotContain(KeyOf(who) ?? "\u0000", body, StringComparison.Ordinal);
            }
        }
    }

    [Theory]
    [InlineData("ServerReady", "none:OK wrong:OK ci:OK ops:OK admin:OK reader:OK")]
    [InlineData("ServerMetadata", "none:Unauthenticated wrong:Unauthenticated ci:OK ops:PermissionDenied admin:OK reader:OK")]
    [InlineData("ModelMetadata", "none:Unauthenticated wrong:Unauthenticated ci:OK ops:PermissionDenied admin:OK reader:OK")]
    [InlineData("ModelConfig", "none:Unauthenticated wrong:Unauthenticated ci:OK ops:PermissionDenied admin:OK reader:OK")]
    [InlineData("ModelStatistics", "none:Unauthenticated wrong:Unauthenticated ci:OK ops:OK admin:OK reader:PermissionDenied")]
    [InlineData("RepositoryIndex", "none:Unauthenticated wrong:Unauthenticated ci:PermissionDenied ops:OK admin:OK reader:PermissionDenied")]
    [InlineData("ModelInfer simple", "none:Unauthenticated wrong:Unauthenticated ci:OK ops:PermissionDenied admin:OK reader:PermissionDenied")]
    [InlineData("ModelInfer secret", "none:Unauthenticated wrong:Unauthenticated ci:PermissionDenied ops:PermissionDenied admin:NotFound reader:PermissionDenied")]
    [InlineData("TraceSetting", "none:Unauthenticated wrong:Unauthenticated ci:PermissionDenied ops:PermissionDenied admin:OK reader:PermissionDenied")]
    public async Task Grpc_KeysTimesMethods(string call, string expectations)
    {
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        foreach (var expectation in expectations.Split(' '))
        {
            var who = expectation.Split(':')[0];
            var expected = Enum.Parse<StatusCode>(expectation.Split(':')[1]);
            var headers = new Metadata();
            if (KeyOf(who) is { } key)
            {
                headers.Add("authorization", $"Bearer {key}");
            }
            Task task = call switch
            {
                "ServerReady" => grpc.ServerReadyAsync(new ServerReadyRequest(), headers).ResponseAsync,
                "ServerMetadata" => grpc.ServerMetadataAsync(new ServerMetadataRequest(), headers).ResponseAsync,
                "ModelMetadata" => grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = "simple" }, headers).ResponseAsync,
                "ModelConfig" => grpc.ModelConfigAsync(new ModelConfigRequest { Name = "simple" }, headers).ResponseAsync,
                "ModelStatistics" => grpc.ModelStatisticsAsync(new ModelStatisticsRequest(), headers).ResponseAsync,
                "RepositoryIndex" => grpc.RepositoryIndexAsync(new RepositoryIndexRequest(), headers).ResponseAsync,
                "ModelInfer simple" => grpc.ModelInferAsync(SimpleRequest("simple"), headers).ResponseAsync,
                "ModelInfer secret" => grpc.ModelInferAsync(SimpleRequest("secret"), headers).ResponseAsync,
                "TraceSetting" => grpc.TraceSettingAsync(new TraceSettingRequest { ModelName = "simple" }, headers).ResponseAsync,
                _ => throw new ArgumentException(call),
            };
            var actual = StatusCode.OK;
            try
            {
                await task;
            }
            catch (RpcException e)
            {
                actual = e.StatusCode;
            }
            Assert.True(expected == actual, $"{who} {call}: expected {expected}, got {actual}");
        }
    }

    [Theory]
    [InlineData("POST", "/v2/repository/index", "application/grpc")]
    [InlineData("POST", "/V2/REPOSITORY/INDEX", "application/json")]
    [InlineData("GET", "/V2/Models/simple/CONFIG", "application/json")]
    [InlineData("POST", "/v2/Models/simple/Infer", "application/json")]
    public async Task Http_NoCaseOrContentTypeTrickSkipsTheCheck(string method, string path, string contentType)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent("{}", System.Text.Encoding.UTF8, contentType) };
        Assert.Equal(HttpStatusCode.Unauthorized, (await _http.SendAsync(request)).StatusCode);
        // A key without the scope is refused too, on whatever spelling of the route.
        using var scoped = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent("{}", System.Text.Encoding.UTF8, contentType) };
        scoped.Headers.Authorization = new AuthenticationHeaderValue("Bearer", path.Contains("repository", StringComparison.OrdinalIgnoreCase) ? ReaderKey : OpsKey);
        Assert.Equal(HttpStatusCode.Forbidden, (await _http.SendAsync(scoped)).StatusCode);
    }

    [Fact]
    public async Task TritonRestriction_HoldsWhateverTheRouteSpelling()
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--http-restricted-api=model-repository:admin-key=s3cret");
        using var http = host.CreateHttpClient();
        Assert.Equal(HttpStatusCode.Forbidden, (await http.PostAsync("/V2/Repository/Index", null)).StatusCode);
    }

    [Fact]
    public async Task Grpc_StreamAuthorizesEachMessagesModel()
    {
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        using var call = grpc.ModelStreamInfer(new Metadata { { "authorization", $"Bearer {CiKey}" } });
        await call.RequestStream.WriteAsync(SimpleRequest("simple"));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal("simple", call.ResponseStream.Current.InferResponse.ModelName);
        await call.RequestStream.WriteAsync(SimpleRequest("secret"));
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task KeyFile_ReloadsOnChange_AndKeepsTheOldKeysWhenTheNewFileIsBroken()
    {
        const string newKey = "rotated-93c1e0";
        Assert.Equal(HttpStatusCode.Unauthorized, await GetServerMetadataAsync(newKey));

        File.WriteAllText(_keyFile, KeyFile(("new", newKey, ["metadata"])));
        File.SetLastWriteTimeUtc(_keyFile, DateTime.UtcNow.AddSeconds(5));
        Assert.Equal(HttpStatusCode.OK, await GetServerMetadataAsync(newKey));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetServerMetadataAsync(CiKey));

        File.WriteAllText(_keyFile, "{\"keys\": [ {\"id\": \"half-written\"");
        File.SetLastWriteTimeUtc(_keyFile, DateTime.UtcNow.AddSeconds(10));
        Assert.Equal(HttpStatusCode.OK, await GetServerMetadataAsync(newKey));
    }

    [Fact]
    public async Task RepeatedFailures_AreAnswered429_ThenEvenAGoodKeyWaits()
    {
        await using var host = await StartAsync(_keyFile, failuresPerMinute: 3);
        using var http = host.CreateHttpClient();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await GetServerMetadataAsync("guess-" + i, http));
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, await GetServerMetadataAsync("guess-4", http));
        Assert.Equal(HttpStatusCode.TooManyRequests, await GetServerMetadataAsync(CiKey, http));

        using var channel = host.CreateGrpcChannel();
        var error = await Assert.ThrowsAsync<RpcException>(() => new GRPCInferenceService.GRPCInferenceServiceClient(channel)
            .ServerMetadataAsync(new ServerMetadataRequest(), new Metadata { { "authorization", "Bearer guess" } }).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task AuthHealth_ClosesTheHealthEndpointsToo()
    {
        await using var host = await StartAsync(_keyFile, 1000, "--auth-health=true");
        using var http = host.CreateHttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v2/health/live")).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/health/live") { Headers = { Authorization = new("Bearer", ReaderKey) } };
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task BrokenKeyFile_FailsStartUp_WithoutEchoingIt()
    {
        var broken = Path.Combine(_repository.Path, "..", $"broken-{Guid.NewGuid():N}.json");
        File.WriteAllText(broken, "{\"keys\": [{\"id\": \"x\", \"sha256\": \"my-plain-secret\", \"scopes\": [\"admin\"]}]}");
        try
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAsync(broken));
            Assert.Contains("64 hex digits", error.Message);
            Assert.DoesNotContain("my-plain-secret", error.Message);
        }
        finally
        {
            File.Delete(broken);
        }
    }

    [Fact]
    public async Task TritonRestrictedApi_NeedsTheHeaderOnTheListedApis()
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path,
            "--http-restricted-api=model-repository,statistics:admin-key=s3cret", "--grpc-restricted-protocol=model-repository:admin-key=s3cret");
        using var http = host.CreateHttpClient();
        var refused = await http.PostAsync("/v2/repository/index", null);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("admin-key", await refused.Content.ReadAsStringAsync());
        using var allowed = new HttpRequestMessage(HttpMethod.Post, "/v2/repository/index") { Headers = { { "admin-key", "s3cret" } } };
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(allowed)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v2")).StatusCode);

        using var channel = host.CreateGrpcChannel();
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var error = await Assert.ThrowsAsync<RpcException>(() => grpc.RepositoryIndexAsync(new RepositoryIndexRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        await grpc.RepositoryIndexAsync(new RepositoryIndexRequest(), new Metadata { { "triton-grpc-protocol-admin-key", "s3cret" } });
    }

    private async Task<HttpStatusCode> GetServerMetadataAsync(string key, HttpClient? http = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v2") { Headers = { Authorization = new("Bearer", key) } };
        using var response = await (http ?? _http).SendAsync(request);
        return response.StatusCode;
    }

    private static ModelInferRequest SimpleRequest(string model)
    {
        var request = new ModelInferRequest { ModelName = model };
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32", Contents = new InferTensorContents() };
            tensor.Shape.AddRange([1, 16]);
            tensor.Contents.IntContents.AddRange(Enumerable.Range(0, 16));
            request.Inputs.Add(tensor);
        }
        return request;
    }
}
