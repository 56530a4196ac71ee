using Xunit;

namespace Fabrik.Tests.Protocol.OpenAi;

/// <summary>Tests in this collection share one embedding host.</summary>
[CollectionDefinition(Name)]
public sealed class EmbeddingCollection : ICollectionFixture<EmbeddingHost>
{
    public const string Name = "embeddings";
}
