using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fabrik.Client;

/// <summary>Registers a <see cref="FabrikClient"/> with dependency injection.</summary>
public static class FabrikClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="FabrikClient"/> for the application (a singleton: it holds the
    /// connection pool), configured through <see cref="IOptions{TOptions}"/> of
    /// <see cref="FabrikClientOptions"/>, so configuration binding and later
    /// <c>Configure</c> calls apply too. The client logs through the registered <see cref="ILoggerFactory"/>, if any.
    /// <code>
    /// services.AddFabrikClient(options =>
    /// {
    ///     options.Transport = FabrikTransport.Grpc;
    ///     options.GrpcAddress = new Uri("https://fabrik.internal:8001");
    ///     options.ApiKey = configuration["Fabrik:ApiKey"];
    ///     options.Retry = new RetryPolicy();
    /// });
    /// </code>
    /// </summary>
    public static IServiceCollection AddFabrikClient(this IServiceCollection services, Action<FabrikClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<FabrikClientOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }
        services.TryAddSingleton(provider => new FabrikClient(
            provider.GetRequiredService<IOptions<FabrikClientOptions>>().Value,
            provider.GetService<ILoggerFactory>()?.CreateLogger<FabrikClient>()));
        return services;
    }

    /// <summary>
    /// Registers <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> of strings to float
    /// embeddings over Fabrik's embeddings endpoint for <paramref name="model"/>, on the
    /// <see cref="FabrikClient"/> that <see cref="AddFabrikClient"/> registers (added here too if
    /// it is not yet).
    /// <code>
    /// services.AddFabrikClient(options => options.HttpAddress = new Uri("http://fabrik:8000"))
    ///         .AddFabrikEmbeddingGenerator("embedder");
    /// </code>
    /// </summary>
    public static IServiceCollection AddFabrikEmbeddingGenerator(this IServiceCollection services, string model, int? dimensions = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(model);
        services.AddFabrikClient();
        services.TryAddSingleton<IEmbeddingGenerator<string, Embedding<float>>>(
            provider => new FabrikEmbeddingGenerator(provider.GetRequiredService<FabrikClient>(), model, dimensions));
        return services;
    }
}
