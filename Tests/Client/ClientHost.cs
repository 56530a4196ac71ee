using Fabrik.Client;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>
/// The real server in memory, serving <c>simple</c>, <c>identity</c> and <c>strings</c>, and
/// <see cref="FabrikClient"/>s that reach it over HTTP JSON, HTTP binary or gRPC through the
/// in-memory handler. The tensor pool is checked for leaks when the server stops.
/// </summary>
public sealed class ClientHost : IAsyncLifetime
{
    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("simple").Add("identity").Add("strings");
    private InMemoryFabrik? _fabrik;

    public InMemoryFabrik Fabrik => _fabrik ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _fabrik = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path);

    public async Task DisposeAsync()
    {
        if (_fabrik is not null)
        {
            var pool = _fabrik.Server.TensorPool;
            await _fabrik.DisposeAsync();
            PoolLeaks.AssertNoneOutstanding(pool);
        }
        _repository.Dispose();
    }

    /// <summary>A client over <paramref name="mode"/> to <paramref name="fabrik"/> (this host's when null).</summary>
    public FabrikClient Client(ClientMode mode, Action<FabrikClientOptions>? configure = null, InMemoryFabrik? fabrik = null) =>
        Create(fabrik ?? Fabrik, mode, configure);

    public static FabrikClient Create(InMemoryFabrik fabrik, ClientMode mode, Action<FabrikClientOptions>? configure = null)
    {
        var address = new Uri("http://localhost/");
        var options = new FabrikClientOptions
        {
            Transport = mode == ClientMode.Grpc ? FabrikTransport.Grpc : FabrikTransport.Http,
            HttpTensorFormat = mode == ClientMode.HttpJson ? HttpTensorFormat.Json : HttpTensorFormat.Binary,
            HttpAddress = address,
            GrpcAddress = address,
            HttpHandler = fabrik.CreateHandler(),
        };
        configure?.Invoke(options);
        return new FabrikClient(options);
    }
}
