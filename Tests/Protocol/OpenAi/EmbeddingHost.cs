using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Embeddings;
using Xunit;

namespace Fabrik.Tests.Protocol.OpenAi;

/// <summary>
/// The real server in memory serving the sample embedding model (and <c>simple</c>, which is not
/// one), the test's own reference for its vectors, and OpenAI SDK clients pointed at it. The
/// tensor pool is checked for leaks when the server stops.
/// </summary>
public sealed class EmbeddingHost : IAsyncLifetime
{
    private readonly TemporaryRepository _repository = new TemporaryRepository().Add(EmbeddingReference.Model).Add("simple");
    private InMemoryFabrik? _fabrik;

    public InMemoryFabrik Fabrik => _fabrik ?? throw new InvalidOperationException("not started");

    internal EmbeddingReference Reference { get; } = new();

    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _fabrik = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path);
        Http = new HttpClient(new LeakCheckingHandler(_fabrik.CreateHandler())) { BaseAddress = new Uri("http://localhost/"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        Reference.Dispose();
        if (_fabrik is not null)
        {
            var pool = _fabrik.Server.TensorPool;
            await _fabrik.DisposeAsync();
            PoolLeaks.AssertNoneOutstanding(pool);
        }
        _repository.Dispose();
    }

    /// <summary>The OpenAI SDK's embeddings client for <paramref name="model"/>, over <paramref name="http"/>
    /// (this host's in-memory client when null) at <c>{address}v1</c>.</summary>
    public EmbeddingClient Sdk(string model = EmbeddingReference.Model, HttpClient? http = null, string key = "unused") =>
        new(model, new ApiKeyCredential(key), SdkOptions(http ?? Http));

    /// <summary>The SDK's options for a server at <paramref name="http"/>'s base address, with no retries.</summary>
    public static OpenAIClientOptions SdkOptions(HttpClient http) => new()
    {
        Endpoint = new Uri(http.BaseAddress!, "v1"),
        Transport = new HttpClientPipelineTransport(http),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
    };
}

