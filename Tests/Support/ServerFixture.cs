using Fabrik.Hosting;
using Fabrik.Protocol.Grpc.Wire;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Support;

/// <summary>
/// Starts the real server (Kestrel, model manager, ONNX Runtime and TorchSharp) on a free
/// loopback port, serving the committed sample models. Tests talk to it over HTTP only.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private FabrikServer? _server;

    public HttpClient Client { get; private set; } = null!;

    /// <summary>A channel to the gRPC port (HTTP/2 without TLS).</summary>
    public GrpcChannel GrpcChannel { get; private set; } = null!;

    public GRPCInferenceService.GRPCInferenceServiceClient Grpc { get; private set; } = null!;

    internal FabrikServer Server => _server ?? throw new InvalidOperationException("server not started");

    public async Task InitializeAsync()
    {
        var options = ServerOptions.Parse(["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--metrics-port", "0", "--grpc-port", "0"]);
        _server = await FabrikServer.StartAsync(options);
        Client = new HttpClient { BaseAddress = _server.HttpAddress, Timeout = TimeSpan.FromSeconds(30) };
        GrpcChannel = GrpcChannel.ForAddress(_server.GrpcAddress!);
        Grpc = new GRPCInferenceService.GRPCInferenceServiceClient(GrpcChannel);
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        GrpcChannel.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>Tests in this collection share one server and run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
