namespace Fabrik.Protocol.OpenAi;

/// <summary>
/// One <c>POST /v1/embeddings</c> body as the client sent it: the model, the inputs (texts, or
/// token arrays the encoder takes as they are), the encoding and the dimensions asked for.
/// Exactly one of <see cref="Texts"/> and <see cref="TokenArrays"/> is set.
/// </summary>
internal sealed class EmbeddingRequest
{
    public required string Model { get; init; }

    /// <summary>The texts to tokenise, in request order.</summary>
    public List<string>? Texts { get; init; }

    /// <summary>Token ids in place of texts, in request order.</summary>
    public List<int[]>? TokenArrays { get; init; }

    /// <summary>True for <c>encoding_format: "base64"</c> (little-endian float32s), false for float.</summary>
    public bool Base64 { get; init; }

    /// <summary>The vector size asked for (<c>dimensions</c>), or null for the model's own.</summary>
    public int? Dimensions { get; init; }

    /// <summary>How many inputs the request carries.</summary>
    public int Count => Texts?.Count ?? TokenArrays!.Count;
}
