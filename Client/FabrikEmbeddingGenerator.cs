using Microsoft.Extensions.AI;

namespace Fabrik.Client;

/// <summary>
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> (Microsoft.Extensions.AI) over Fabrik's
/// OpenAI-compatible <c>POST /v1/embeddings</c>, so an application written against that
/// abstraction swaps a hosted provider for a Fabrik embedding model in one line:
/// <code>
/// IEmbeddingGenerator&lt;string, Embedding&lt;float&gt;&gt; generator = fabrikClient.AsEmbeddingGenerator("embedder");
/// </code>
/// It goes over HTTP (at <see cref="FabrikClientOptions.HttpAddress"/>, whatever the transport),
/// with the client's API key, TLS, timeout and retry policy. Fabrik-only: Triton has no such endpoint.
/// </summary>
public sealed class FabrikEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly FabrikClient _client;
    private readonly string _model;
    private readonly int? _dimensions;
    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>A generator for <paramref name="model"/> over <paramref name="client"/>, which it
    /// does not dispose. <paramref name="dimensions"/> asks for shorter vectors by default (where
    /// the model allows); <see cref="EmbeddingGenerationOptions.Dimensions"/> overrides it per call.</summary>
    public FabrikEmbeddingGenerator(FabrikClient client, string model, int? dimensions = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(model);
        _client = client;
        _model = model;
        _dimensions = dimensions;
        _metadata = new EmbeddingGeneratorMetadata("fabrik", client.HttpAddress, model, dimensions);
    }

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var inputs = values as IReadOnlyList<string> ?? [.. values];
        var model = options?.ModelId ?? _model;
        if (inputs.Count == 0)
        {
            return [];
        }
        var (vectors, inputTokens, totalTokens) = await _client.EmbedAsync(model, inputs, options?.Dimensions ?? _dimensions, cancellationToken);
        var created = DateTimeOffset.UtcNow;
        var embeddings = new GeneratedEmbeddings<Embedding<float>>(vectors.Length)
        {
            Usage = new UsageDetails { InputTokenCount = inputTokens, TotalTokenCount = totalTokens },
        };
        foreach (var vector in vectors)
        {
            embeddings.Add(new Embedding<float>(vector) { ModelId = model, CreatedAt = created });
        }
        return embeddings;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
            : serviceType == typeof(FabrikClient) ? _client
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    /// <summary>Nothing to release: the <see cref="FabrikClient"/> belongs to the caller.</summary>
    public void Dispose()
    {
    }
}
