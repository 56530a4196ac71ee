using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Fabrik.Protocol.Grpc.HealthCheck;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>
/// Each listener serves only its own protocol, over real sockets: the HTTP port the REST API, the
/// gRPC port gRPC (inference and health), the metrics port /metrics. Every route family is tried
/// on every port, HTTP/1.1 and HTTP/2 cleartext (prior knowledge) alike, and a REST request on the
/// gRPC port cannot get past --grpc-restricted-protocol.
/// </summary>
public sealed class ListenerSeparationTests : IDisposable
{
    private const string Secret = "s3cret-admin-7f2c";
    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("simple").Add("mlp");

    public void Dispose() => _repository.Dispose();

    [Fact]
    public async Task GrpcPortWithoutHttp_RefusesRestPastTheRestriction()
    {
        var options = ServerOptions.Parse(["--model-repository", _repository.Path, "--model-control-mode=explicit", "--load-model=simple",
            "--allow-http=false", "--grpc-port", "0", "--metrics-port", "0",
            $"--grpc-restricted-protocol=model-repository,inference:admin-key={Secret}"]);
        await using var server = await FabrikServer.StartAsync(options);
        Assert.Null(server.HttpAddress);
        using var h2c = PriorKnowledgeClient(server.GrpcAddress!);

        using (var load = await h2c.PostAsync("/v2/repository/models/mlp/load", null))
        {
            Assert.Equal(HttpStatusCode.NotFound, load.StatusCode);
        }
        Assert.DoesNotContain(server.Models.LoadedModels, model => model.Name == "mlp");
        using (var infer = await h2c.PostAsync("/v2/models/simple/infer", SimpleInferBody()))
        {
            Assert.Equal(HttpStatusCode.NotFound, infer.StatusCode);
        }
        using (var index = await h2c.PostAsync("/v2/repository/index", null))
        {
            Assert.Equal(HttpStatusCode.NotFound, index.StatusCode);
        }

        // The port still serves gRPC, with the restriction in force.
        using var channel = GrpcChannel.ForAddress(server.GrpcAddress!);
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var refused = await Assert.ThrowsAsync<RpcException>(() => grpc.RepositoryIndexAsync(new RepositoryIndexRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        var index2 = await grpc.RepositoryIndexAsync(new RepositoryIndexRequest(), new Metadata { { "triton-grpc-protocol-admin-key", Secret } });
        Assert.Contains(index2.Models, model => model.Name == "mlp");
    }

    [Fact]
    public async Task EveryRouteFamily_OnEveryPort_ReachesOnlyItsOwnListener()
    {
        var options = ServerOptions.Parse(["--model-repository", _repository.Path, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"]);
        await using var server = await FabrikServer.StartAsync(options);

        // HTTP port: REST, and nothing of gRPC or metrics.
        using var http = new HttpClient { BaseAddress = server.HttpAddress, Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v2")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/v2/models/simple/infer", SimpleInferBody())).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(GrpcFramed("/inference.GRPCInferenceService/ServerLive"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(GrpcFramed("/grpc.health.v1.Health/Check"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(GrpcFramed("/inference.GRPCInferenceService/NoSuchMethod"))).StatusCode);
        using (var channel = GrpcChannel.ForAddress(server.HttpAddress!))
        {
            // A gRPC client on the HTTP port gets no answer from the gRPC service.
            var call = new GRPCInferenceService.GRPCInferenceServiceClient(channel).ServerLiveAsync(new ServerLiveRequest()).ResponseAsync;
            var error = await Assert.ThrowsAsync<RpcException>(() => call);
            Assert.NotEqual(StatusCode.OK, error.StatusCode);
        }

        // gRPC port: gRPC and health; REST and /metrics are not found, over HTTP/2 and HTTP/1.1.
        using (var channel = GrpcChannel.ForAddress(server.GrpcAddress!))
        {
            Assert.True((await new GRPCInferenceService.GRPCInferenceServiceClient(channel).ServerLiveAsync(new ServerLiveRequest())).Live);
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest())).Status);
        }
        using var h2c = PriorKnowledgeClient(server.GrpcAddress!);
        Assert.Equal(HttpStatusCode.NotFound, (await h2c.GetAsync("/v2")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await h2c.GetAsync("/v2/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await h2c.PostAsync("/v2/models/simple/infer", SimpleInferBody())).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await h2c.PostAsync("/v2/repository/index", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await h2c.GetAsync("/v2/trace/setting")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await h2c.GetAsync("/metrics")).StatusCode);
        Assert.DoesNotContain("200", await Http11StatusLineAsync(server.GrpcAddress!, "GET /v2 HTTP/1.1"), StringComparison.Ordinal);
        Assert.DoesNotContain("200", await Http11StatusLineAsync(server.GrpcAddress!, "GET /metrics HTTP/1.1"), StringComparison.Ordinal);

        // Metrics port: /metrics only.
        using var metrics = new HttpClient { BaseAddress = server.MetricsAddress, Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal(HttpStatusCode.OK, (await metrics.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await metrics.GetAsync("/v2")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await metrics.PostAsync("/v2/repository/index", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await metrics.SendAsync(GrpcFramed("/inference.GRPCInferenceService/ServerLive"))).StatusCode);
    }

    [Fact]
    public async Task WithApiKeys_AnotherProtocolsRoute_IsNotFound_NotRefusedOrAudited()
    {
        var keys = Path.Combine(_repository.Path, "..", $"keys-{Guid.NewGuid():N}.json");
        var audit = Path.Combine(_repository.Path, "..", $"audit-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(keys, Fabrik.Tests.Security.AuthTests.KeyFile(("ops", Secret, ["admin"])));
        try
        {
            var options = ServerOptions.Parse(["--model-repository", _repository.Path, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0",
                "--auth-keys", keys, "--audit-log", audit]);
            await using (var server = await FabrikServer.StartAsync(options))
            {
                using var h2c = PriorKnowledgeClient(server.GrpcAddress!);
                Assert.Equal(HttpStatusCode.NotFound, (await h2c.PostAsync("/v2/repository/index", null)).StatusCode);
                using var metrics = new HttpClient { BaseAddress = server.MetricsAddress, Timeout = TimeSpan.FromSeconds(30) };
                Assert.Equal(HttpStatusCode.NotFound, (await metrics.GetAsync("/v2")).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await metrics.GetAsync("/metrics")).StatusCode);
                using var http = new HttpClient { BaseAddress = server.HttpAddress, Timeout = TimeSpan.FromSeconds(30) };
                Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v2")).StatusCode);
            }
            // Only the two requests for the listeners' own routes were refused.
            var failures = File.ReadAllLines(audit).Where(line => line.Contains("\"event\":\"auth-failure\"", StringComparison.Ordinal)).ToList();
            Assert.Equal(2, failures.Count);
            Assert.Contains(failures, line => line.Contains("\"request\":\"GET /metrics\"", StringComparison.Ordinal));
            Assert.Contains(failures, line => line.Contains("\"request\":\"GET /v2\"", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(keys);
            File.Delete(audit);
        }
    }

    /// <summary>HTTP/2 without TLS, by prior knowledge (what a client of the gRPC port can send).</summary>
    private static HttpClient PriorKnowledgeClient(Uri address) => new()
    {
        BaseAddress = address,
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    private static StringContent SimpleInferBody() =>
        new(new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString(), Encoding.UTF8, "application/json");

    /// <summary>A gRPC call written by hand: an empty message behind gRPC's 5-byte frame prefix.</summary>
    private static HttpRequestMessage GrpcFramed(string path) => new(HttpMethod.Post, path)
    {
        Content = new ByteArrayContent(new byte[5]) { Headers = { ContentType = new("application/grpc") } },
        Headers = { TE = { new("trailers") } },
    };

    /// <summary>What an HTTP/1.1 request on <paramref name="address"/> gets back as its first line (or
    /// nothing, when the server closes the connection without an HTTP/1.1 answer).</summary>
    private static async Task<string> Http11StatusLineAsync(Uri address, string requestLine)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(address.Host, address.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{requestLine}\r\nHost: {address.Authority}\r\nConnection: close\r\n\r\n"));
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                answer.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // Reset by the server: no answer.
        }
        var text = Encoding.Latin1.GetString(answer.ToArray());
        var end = text.IndexOf("\r\n", StringComparison.Ordinal);
        return end < 0 ? text : text[..end];
    }
}
