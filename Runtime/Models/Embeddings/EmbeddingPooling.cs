namespace Fabrik.Models.Embeddings;

/// <summary>How an embedding model's per-token outputs become one vector (<c>embedding_pooling</c>).</summary>
internal enum EmbeddingPooling
{
    /// <summary>The mean over the tokens the attention mask covers (sentence-transformers' default).</summary>
    Mean,

    /// <summary>The first token's output (BERT's [CLS]).</summary>
    Cls,
}
