using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>
/// Starts the real server (model manager, ONNX Runtime and TorchSharp, the HTTP and gRPC
/// pipelines) in memory, serving the committed sample models. Tests talk HTTP and gRPC to it
/// without sockets; those that need Kestrel itself use <see cref="FabrikProcess"/> or
/// <see cref="FabrikServer"/> on a port.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private InMemoryFabrik? _host;

    public HttpClient Client { get; private set; } = null!;

    /// <summary>A channel to the gRPC port (HTTP/2 without TLS).</summary>
    public GrpcChannel GrpcChannel { get; private set; } = null!;

    public GRPCInferenceService.GRPCInferenceServiceClient Grpc { get; private set; } = null!;

    internal FabrikServer Server => _host?.Server ?? throw new InvalidOperationException("server not started");

    public async Task InitializeAsync()
    {
        _host = await InMemoryFabrik.StartAsync("--model-repository", RepositoryLayout.Models);
        // Every answer any test gets from the shared server is checked for server internals.
        Client = new HttpClient(new LeakCheckingHandler(_host.CreateHandler())) { BaseAddress = _host.CreateHttpClient().BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        GrpcChannel = _host.CreateGrpcChannel();
        Grpc = new GRPCInferenceService.GRPCInferenceServiceClient(GrpcChannel);
    }

    /// <summary>Stops the server, then fails the collection if any tensor buffer is still
    /// rented: every request path must give back what it took (Debug builds say where it was rented).</summary>
    public async Task DisposeAsync()
    {
        Client.Dispose();
        GrpcChannel.Dispose();
        if (_host is not null)
        {
            var pool = _host.Server.TensorPool;
            await _host.DisposeAsync();
            PoolLeaks.AssertNoneOutstanding(pool);
        }
    }
}

/// <summary>Tests in this collection share one server and run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}

/// <summary>
/// The real server on free loopback ports, with Kestrel: for tests about listeners, framing and
/// body limits, and for the load generator, which needs addresses to connect to.
/// </summary>
public sealed class KestrelServerFixture : IAsyncLifetime
{
    private FabrikServer? _server;

    public HttpClient Client { get; private set; } = null!;

    internal FabrikServer Server => _server ?? throw new InvalidOperationException("server not started");

    public async Task InitializeAsync()
    {
        var options = ServerOptions.Parse(["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"]);
        _server = await FabrikServer.StartAsync(options);
        Client = new HttpClient { BaseAddress = _server.HttpAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>Tests in this collection share one server on loopback ports.</summary>
[CollectionDefinition(Name)]
public sealed class KestrelServerCollection : ICollectionFixture<KestrelServerFixture>
{
    public const string Name = "kestrel";
}
