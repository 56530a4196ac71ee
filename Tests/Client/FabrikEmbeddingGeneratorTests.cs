using Fabrik.Client;
using Fabrik.Tests.Protocol.OpenAi;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>
/// <see cref="FabrikEmbeddingGenerator"/>, Microsoft.Extensions.AI's embedding generator over the
/// embeddings endpoint, against the in-memory server: vectors equal to the test's own reference,
/// usage, dimensions, errors as <see cref="FabrikException"/>, and registration.
/// </summary>
[Collection(EmbeddingCollection.Name)]
public sealed class FabrikEmbeddingGeneratorTests(EmbeddingHost host)
{
    [Theory]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Generate_MatchesTheReference_WithUsage(ClientMode mode)
    {
        using var client = ClientHost.Create(host.Fabrik, mode);
        using IEmbeddingGenerator<string, Embedding<float>> generator = client.AsEmbeddingGenerator(EmbeddingReference.Model);
        var embeddings = await generator.GenerateAsync(EmbeddingsEndpointTests.Texts);
        Assert.Equal(EmbeddingsEndpointTests.Texts.Length, embeddings.Count);
        for (var i = 0; i < embeddings.Count; i++)
        {
            EmbeddingsEndpointTests.AssertClose(host.Reference.Embed(EmbeddingsEndpointTests.Texts[i]), embeddings[i].Vector.ToArray());
            Assert.Equal(EmbeddingReference.Model, embeddings[i].ModelId);
        }
        var tokens = EmbeddingsEndpointTests.Texts.Sum(text => host.Reference.Tokenize(text).Length);
        Assert.Equal(tokens, embeddings.Usage!.InputTokenCount);
        Assert.Equal(tokens, embeddings.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task Dimensions_FromTheOptions_CutAndRenormalise()
    {
        using var client = ClientHost.Create(host.Fabrik, ClientMode.HttpBinary);
        using var generator = client.AsEmbeddingGenerator(EmbeddingReference.Model, dimensions: 16);
        var sixteen = await generator.GenerateVectorAsync("hello world");
        EmbeddingsEndpointTests.AssertClose(host.Reference.Embed("hello world", 16), sixteen.ToArray());
        var eight = await generator.GenerateAsync(["hello world"], new EmbeddingGenerationOptions { Dimensions = 8 });
        EmbeddingsEndpointTests.AssertClose(host.Reference.Embed("hello world", 8), eight[0].Vector.ToArray());
    }

    [Fact]
    public async Task ServerRefusal_IsAFabrikException_WithTheServersMessage()
    {
        using var client = ClientHost.Create(host.Fabrik, ClientMode.HttpBinary);
        using var generator = client.AsEmbeddingGenerator("no-such-model");
        var error = await Assert.ThrowsAsync<FabrikException>(() => generator.GenerateAsync(["hello"]));
        Assert.Equal(FabrikErrorKind.NotFound, error.Kind);
        Assert.Equal(404, error.HttpStatus);
        Assert.Contains("does not exist", error.ServerMessage, StringComparison.Ordinal);
        Assert.NotNull(error.RequestId);

        using var embedder = client.AsEmbeddingGenerator(EmbeddingReference.Model);
        var tooSmall = await Assert.ThrowsAsync<FabrikException>(() => embedder.GenerateAsync(["hello"], new EmbeddingGenerationOptions { Dimensions = 3 }));
        Assert.Equal(FabrikErrorKind.InvalidArgument, tooSmall.Kind);
    }

    [Fact]
    public async Task Registration_GivesTheGeneratorOverTheRegisteredClient()
    {
        var services = new ServiceCollection()
            .AddFabrikClient(options =>
            {
                options.HttpAddress = new Uri("http://localhost/");
                options.HttpHandler = host.Fabrik.CreateHandler();
            })
            .AddFabrikEmbeddingGenerator(EmbeddingReference.Model);
        await using var provider = services.BuildServiceProvider();
        var generator = provider.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();
        var metadata = generator.GetService<EmbeddingGeneratorMetadata>();
        Assert.Equal("fabrik", metadata!.ProviderName);
        Assert.Equal(EmbeddingReference.Model, metadata.DefaultModelId);
        Assert.Same(provider.GetRequiredService<FabrikClient>(), generator.GetService<FabrikClient>());
        var vector = await generator.GenerateVectorAsync("Zebras?");
        EmbeddingsEndpointTests.AssertClose(host.Reference.Embed("Zebras?"), vector.ToArray());
    }
}
