using Fabrik.Execution;
using Fabrik.Hosting;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Fabrik.Testing;

/// <summary>
/// The whole server (routing, leases, decoders, scheduler, backends, encoders, gRPC) with an
/// in-memory server in place of Kestrel: HTTP and gRPC calls go through the real pipeline without
/// sockets. Tests that do not need a process use it, and the full-path benchmark measures it.
/// What it does not exercise is Kestrel itself: listeners, TLS, HTTP/1.1 framing and body limits.
/// </summary>
public sealed class InMemoryFabrik : IAsyncDisposable
{
    private readonly TestServer _testServer;

    private InMemoryFabrik(FabrikServer server)
    {
        Server = server;
        _testServer = (TestServer)server.Services.GetRequiredService<IServer>();
    }

    internal FabrikServer Server { get; }

    /// <summary>Starts the server in memory with the given command line. The HTTP and gRPC ports
    /// are not opened; the metrics listener, which is a server of its own, takes a free loopback
    /// port (whatever the command line says, so that hosts side by side never collide).</summary>
    public static async Task<InMemoryFabrik> StartAsync(params string[] arguments) =>
        await StartAsync(ServerOptions.Parse(arguments), time: null);

    internal static async Task<InMemoryFabrik> StartAsync(ServerOptions options, TimeProvider? time = null)
    {
        var server = await FabrikServer.StartAsync(options with { MetricsPort = 0 }, time, configureHost: host => host.UseTestServer());
        return new InMemoryFabrik(server);
    }

    /// <summary>Starts the server in memory with backends beside the server's own (the simulated
    /// device), which only tests and benchmarks register.</summary>
    internal static async Task<InMemoryFabrik> StartWithBackendsAsync(ServerOptions options, params IModelBackend[] backends)
    {
        var register = BackendRegistration.With(backends);
        var server = await FabrikServer.StartAsync(options with { MetricsPort = 0 }, time: null, configureHost: host =>
        {
            host.UseTestServer();
            register(host);
        });
        return new InMemoryFabrik(server);
    }

    /// <summary>Starts the server in memory with CUDA shared memory simulated by <paramref name="cuda"/>
    /// (a host without a GPU has no CUDA IPC of its own).</summary>
    internal static async Task<InMemoryFabrik> StartWithCudaSharedMemoryAsync(ServerOptions options, SimulatedDevice.SimulatedCudaSharedMemory cuda)
    {
        var server = await FabrikServer.StartAsync(options with { MetricsPort = 0 }, time: null, configureHost: host => host
            .UseTestServer()
            .ConfigureServices(services => services.AddSingleton<Protocol.SharedMemory.ICudaSharedMemory>(cuda)));
        return new InMemoryFabrik(server);
    }

    /// <summary>A handler whose requests go straight into the pipeline.</summary>
    public HttpMessageHandler CreateHandler() => _testServer.CreateHandler();

    /// <summary>An HTTP client whose requests go straight into the pipeline.</summary>
    public HttpClient CreateHttpClient() => new(_testServer.CreateHandler()) { BaseAddress = _testServer.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>A gRPC channel over the same in-memory pipeline.</summary>
    public GrpcChannel CreateGrpcChannel() =>
        GrpcChannel.ForAddress(_testServer.BaseAddress, new GrpcChannelOptions { HttpHandler = _testServer.CreateHandler(), DisposeHttpClient = true });

    /// <summary>Sends one HTTP request whose connection and request <paramref name="configure"/>
    /// sets up (the client's address among them); returns the context with the response.</summary>
    public Task<Microsoft.AspNetCore.Http.HttpContext> SendAsync(Action<Microsoft.AspNetCore.Http.HttpContext> configure) => _testServer.SendAsync(configure);

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
