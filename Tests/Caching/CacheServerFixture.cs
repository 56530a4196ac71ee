using Fabrik.Protocol.Triton;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Caching;

/// <summary>
/// A server in memory with a 1 MiB response cache and four models: <c>mlp</c>, its copy
/// <c>mlp_copy</c> and <c>simple</c> enable the cache; <c>mlp_plain</c> (the same network) does
/// not, so its answers come from the model run alone. Each test uses inputs of its own, so what
/// one test caches never answers another's requests.
/// </summary>
public sealed class CacheServerFixture : IAsyncLifetime
{
    public const long CacheBytes = 1 << 20;
    private const string Enable = "response_cache { enable: true }";

    private readonly TemporaryRepository _repository = new TemporaryRepository()
        .Add("mlp", extraConfig: Enable).Add("mlp", "mlp_copy", Enable).Add("mlp", "mlp_plain").Add("simple", extraConfig: Enable);

    private InMemoryFabrik? _host;

    public HttpClient Http { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public GRPCInferenceService.GRPCInferenceServiceClient Grpc { get; private set; } = null!;

    internal Fabrik.Hosting.FabrikServer Server => _host!.Server;

    public async Task InitializeAsync()
    {
        _host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--cache-config", $"local,size={CacheBytes}");
        Http = new HttpClient(new LeakCheckingHandler(_host.CreateHandler())) { BaseAddress = _host.CreateHttpClient().BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        Channel = _host.CreateGrpcChannel();
        Grpc = new GRPCInferenceService.GRPCInferenceServiceClient(Channel);
    }

    /// <summary>Stops the server and fails if any tensor buffer (a key, a copied hit) is still rented.</summary>
    public async Task DisposeAsync()
    {
        Http.Dispose();
        Channel.Dispose();
        if (_host is not null)
        {
            var pool = _host.Server.TensorPool;
            await _host.DisposeAsync();
            PoolLeaks.AssertNoneOutstanding(pool);
        }
        _repository.Dispose();
    }
}
