using System.Security.Cryptography.X509Certificates;
using Fabrik.Client;
using Fabrik.Hosting;
using Fabrik.Tests.Security;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>API keys and TLS through <see cref="FabrikClient"/>: keys and scopes on the in-memory
/// server, then mutual TLS with keys on real Kestrel listeners with a PKI made in the test.</summary>
public sealed class FabrikClientSecurityTests : IDisposable
{
    private const string InferKey = "client-infer-5c1d9e";
    private const string ReaderKey = "client-reader-8a02f4";

    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("simple");
    private readonly string _keys;
    private readonly TestCertificates _pki = new();

    public FabrikClientSecurityTests()
    {
        _keys = Path.Combine(_pki.Folder, "keys.json");
        File.WriteAllText(_keys, AuthTests.KeyFile(("ci", InferKey, ["infer:simple", "metadata"]), ("reader", ReaderKey, ["metadata"])));
    }

    public void Dispose()
    {
        _repository.Dispose();
        _pki.Dispose();
    }

    [Theory]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task ApiKey_IsSent_AndMissingOrNarrowKeysGetTypedRefusals(ClientMode mode)
    {
        await using var fabrik = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--auth-keys", _keys);

        using (var client = ClientHost.Create(fabrik, mode, options => options.ApiKey = InferKey))
        using (var result = await client.InferAsync(SimpleRequest()))
        {
            Assert.Equal(Enumerable.Range(1, 16), result.GetOutput<int>("OUTPUT0").ToArray());
        }

        using (var anonymous = ClientHost.Create(fabrik, mode))
        {
            var error = await Assert.ThrowsAsync<FabrikException>(() => anonymous.InferAsync(SimpleRequest()));
            Assert.Equal(FabrikErrorKind.Unauthenticated, error.Kind);
            Assert.Contains("needs an API key", error.ServerMessage, StringComparison.Ordinal);
            Assert.True(mode == ClientMode.Grpc ? error.GrpcStatus == Grpc.Core.StatusCode.Unauthenticated : error.HttpStatus == 401);
        }

        using (var reader = ClientHost.Create(fabrik, mode, options => options.ApiKey = ReaderKey))
        {
            Assert.Equal("simple", (await reader.GetModelMetadataAsync("simple")).Name);
            var error = await Assert.ThrowsAsync<FabrikException>(() => reader.InferAsync(SimpleRequest()));
            Assert.Equal(FabrikErrorKind.PermissionDenied, error.Kind);
            Assert.Contains("may not run inference on model 'simple'", error.ServerMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task MutualTlsWithKeys_OnKestrel_InfersOverHttpsAndGrpc_AndRefusesAClientWithoutItsCertificate()
    {
        var server = _pki.Issue("CN=fabrik-server", server: true, "server");
        var clientCertificate = _pki.Issue("CN=ci-client", server: false, "client").Certificate;
        await using var fabrik = await FabrikServer.StartAsync(ServerOptions.Parse([
            "--model-repository", _repository.Path, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0", "--auth-keys", _keys,
            "--http-tls-cert", server.CertificatePath, "--http-tls-key", server.KeyPath, "--http-tls-client-ca", _pki.CaPath,
            "--grpc-use-ssl=true", "--grpc-server-cert", server.CertificatePath, "--grpc-server-key", server.KeyPath,
            "--grpc-root-cert", _pki.CaPath, "--grpc-use-ssl-mutual=true"]));
        Assert.Equal("https", fabrik.HttpAddress!.Scheme);

        foreach (var transport in new[] { FabrikTransport.Http, FabrikTransport.Grpc })
        {
            using var client = new FabrikClient(Options(fabrik, transport, clientCertificate));
            using (var result = await client.InferAsync(SimpleRequest()))
            {
                Assert.Equal(Enumerable.Range(-1, 16), result.GetOutput<int>("OUTPUT1").ToArray());
            }
            Assert.True(await client.IsModelReadyAsync("simple"));

            using var withoutCertificate = new FabrikClient(Options(fabrik, transport, clientCertificate: null));
            // The handshake fails (or, under TLS 1.3, the connection is closed after it): no call is served.
            var refused = await Assert.ThrowsAsync<FabrikException>(() => withoutCertificate.GetServerMetadataAsync());
            Assert.True(refused.Kind is FabrikErrorKind.Unavailable or FabrikErrorKind.Internal, $"{transport}: {refused.Kind} {refused.Message}");

            // A client that trusts another CA refuses the server.
            using var otherPki = new TestCertificates("Another CA");
            var options = Options(fabrik, transport, clientCertificate);
            options.TrustedCertificateAuthorities = [otherPki.Ca];
            using var distrusting = new FabrikClient(options);
            var distrusted = await Assert.ThrowsAsync<FabrikException>(() => distrusting.IsLiveAsync());
            Assert.True(distrusted.Kind is FabrikErrorKind.Unavailable or FabrikErrorKind.Internal, $"{transport}: {distrusted.Kind} {distrusted.Message}");
        }
    }

    [Fact]
    public async Task Kestrel_WithoutTls_StreamsAndInfersOverBothTransports()
    {
        await using var fabrik = await FabrikServer.StartAsync(ServerOptions.Parse([
            "--model-repository", _repository.Path, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"]));
        using var client = new FabrikClient(new FabrikClientOptions { HttpAddress = fabrik.HttpAddress!, GrpcAddress = fabrik.GrpcAddress! });
        using (var result = await client.InferAsync(SimpleRequest()))
        {
            Assert.Equal(Enumerable.Range(1, 16), result.GetOutput<int>("OUTPUT0").ToArray());
        }
        var answers = new List<int>();
        await foreach (var response in client.StreamInferAsync(FabrikClientStreamTests.Requests(3)))
        {
            using var result = response.GetResult();
            answers.Add(result.GetOutput<int>("OUTPUT0")[0]);
        }
        // Request i adds i to 0..15: the first element of OUTPUT0 is 0 + i.
        Assert.Equal([0, 1, 2], answers);
    }

    private FabrikClientOptions Options(FabrikServer fabrik, FabrikTransport transport, X509Certificate2? clientCertificate) => new()
    {
        Transport = transport,
        HttpAddress = fabrik.HttpAddress!,
        GrpcAddress = fabrik.GrpcAddress!,
        ApiKey = InferKey,
        TrustedCertificateAuthorities = [_pki.Ca],
        ClientCertificate = clientCertificate,
    };

    private static InferRequest SimpleRequest() => new InferRequest("simple")
        .WithInput(InferInput.Create("INPUT0", Enumerable.Range(0, 16).ToArray(), 1, 16))
        .WithInput(InferInput.Create("INPUT1", Enumerable.Repeat(1, 16).ToArray(), 1, 16));
}
