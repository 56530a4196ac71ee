using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Grpc.Net.Client;

namespace Fabrik.Tests.Support;

/// <summary>
/// A server of a test class's own, in memory, with an HTTP and a gRPC client to it. Disposing it
/// stops the server and fails the test if any tensor buffer is still rented.
/// </summary>
internal sealed class InMemoryClients : IAsyncDisposable
{
    private InMemoryClients(InMemoryFabrik host)
    {
        Host = host;
        Http = host.CreateHttpClient();
        Channel = host.CreateGrpcChannel();
        Grpc = new GRPCInferenceService.GRPCInferenceServiceClient(Channel);
    }

    public InMemoryFabrik Host { get; }

    public HttpClient Http { get; }

    public GrpcChannel Channel { get; }

    public GRPCInferenceService.GRPCInferenceServiceClient Grpc { get; }

    public static async Task<InMemoryClients> StartAsync(ServerOptions options, TimeProvider? time = null) =>
        new(await InMemoryFabrik.StartAsync(options, time));

    /// <summary>The same, with CUDA shared memory simulated by <paramref name="cuda"/>.</summary>
    public static async Task<InMemoryClients> StartWithCudaSharedMemoryAsync(ServerOptions options, Testing.SimulatedDevice.SimulatedCudaSharedMemory cuda) =>
        new(await InMemoryFabrik.StartWithCudaSharedMemoryAsync(options, cuda));

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Channel.Dispose();
        var pool = Host.Server.TensorPool;
        await Host.DisposeAsync();
        PoolLeaks.AssertNoneOutstanding(pool);
    }
}
