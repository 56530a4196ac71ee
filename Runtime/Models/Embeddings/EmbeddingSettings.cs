using System.Collections.Immutable;
using System.Globalization;
using Fabrik.Configuration;
using Fabrik.Tensors;

namespace Fabrik.Models.Embeddings;

/// <summary>
/// What a model's config.pbtxt <c>parameters</c> say about serving it as embeddings
/// (<c>POST /v1/embeddings</c>). A model is an embedding model when it names a tokenizer
/// (<c>embedding_tokenizer</c>); the other keys have defaults. Checked against the model's
/// inputs and outputs when it loads, so a model that cannot be served this way fails to load
/// with the reason, rather than failing its requests.
/// </summary>
/// <param name="TokenizerFile">The tokenizer's file name, inside the version folder (so a
/// version's signature covers it, and each version may bring its own vocabulary).</param>
/// <param name="Pooling">Mean over the masked tokens, or the first token.</param>
/// <param name="Normalize">Whether the vector is scaled to unit length (L2).</param>
/// <param name="MaxTokens">The longest input in tokens, special tokens included; longer is a 400.</param>
/// <param name="Dimensions">The model's vector size (the output's last dimension).</param>
/// <param name="DimensionsAllowed">The sizes a request may ask for with <c>dimensions</c>
/// (truncated, then renormalised); always includes <paramref name="Dimensions"/>.</param>
/// <param name="MaxInputs">The most inputs one request may carry.</param>
/// <param name="MaxTotalTokens">The most tokens (summed over the inputs) one request may carry.</param>
/// <param name="InputIds">Index of <c>input_ids</c> among the model's inputs.</param>
/// <param name="AttentionMask">Index of <c>attention_mask</c>.</param>
/// <param name="TokenTypeIds">Index of <c>token_type_ids</c>, or -1 when the model has none.</param>
/// <param name="Output">Index of the output that holds the per-token vectors [batch, tokens, dimensions].</param>
internal sealed record EmbeddingSettings(
    string TokenizerFile, EmbeddingPooling Pooling, bool Normalize, int MaxTokens, int Dimensions, ImmutableArray<int> DimensionsAllowed,
    int MaxInputs, int MaxTotalTokens, int InputIds, int AttentionMask, int TokenTypeIds, int Output)
{
    public const string TokenizerKey = "embedding_tokenizer";
    public const int DefaultMaxTokens = 512;
    public const int DefaultMaxInputs = 2048;
    public const int DefaultMaxTotalTokens = 32768;

    /// <summary>The settings of <paramref name="config"/>, or null when it is not an embedding model.</summary>
    /// <exception cref="InvalidOperationException">The parameters or the model's tensors do not fit; the message says which.</exception>
    public static EmbeddingSettings? From(ModelConfig config)
    {
        if (!config.Parameters.TryGetValue(TokenizerKey, out var tokenizer))
        {
            return null;
        }
        var parameters = config.Parameters;
        if (tokenizer.Length == 0 || Path.IsPathRooted(tokenizer))
        {
            throw Problem($"{TokenizerKey} must name a file in the version folder, got '{tokenizer}'");
        }
        var pooling = Text(parameters, "embedding_pooling", "mean") switch
        {
            "mean" => EmbeddingPooling.Mean,
            "cls" => EmbeddingPooling.Cls,
            var other => throw Problem($"embedding_pooling must be \"mean\" or \"cls\", got '{other}'"),
        };
        var normalize = Text(parameters, "embedding_normalize", "true") switch
        {
            "true" => true,
            "false" => false,
            var other => throw Problem($"embedding_normalize must be \"true\" or \"false\", got '{other}'"),
        };
        var maxTokens = Number(parameters, "embedding_max_tokens", DefaultMaxTokens, minimum: 2);
        var maxInputs = Number(parameters, "embedding_max_inputs", DefaultMaxInputs, minimum: 1);
        var maxTotalTokens = Number(parameters, "embedding_max_total_tokens", DefaultMaxTotalTokens, minimum: maxTokens);

        if (config.MaxBatchSize <= 0)
        {
            throw Problem("an embedding model must batch (max_batch_size above 0)");
        }
        var inputIds = TokenInput(config, "input_ids", required: true);
        var attentionMask = TokenInput(config, "attention_mask", required: true);
        var tokenTypeIds = TokenInput(config, "token_type_ids", required: false);
        var known = new[] { inputIds, attentionMask, tokenTypeIds }.Count(index => index >= 0);
        if (config.Inputs.Count(input => !input.Optional) > known)
        {
            throw Problem("an embedding model's inputs are input_ids, attention_mask and optionally token_type_ids; it has others");
        }
        var (output, dimensions) = TokenOutput(config, Text(parameters, "embedding_output", config.Outputs.IsEmpty ? "" : config.Outputs[0].Name));
        var allowed = DimensionsList(Text(parameters, "embedding_dimensions_allowed", ""), dimensions);
        return new EmbeddingSettings(tokenizer, pooling, normalize, maxTokens, dimensions, allowed, maxInputs, maxTotalTokens,
            inputIds, attentionMask, tokenTypeIds, output);
    }

    /// <summary>The padded length for <paramref name="tokens"/> tokens: the next power of two, at
    /// least 8 and at most <see cref="MaxTokens"/>, so that requests of similar lengths share a
    /// shape and the dynamic batcher can merge them.</summary>
    public int Bucket(int tokens)
    {
        var bucket = Math.Max(8, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)tokens));
        return Math.Min(bucket, MaxTokens);
    }

    private static int TokenInput(ModelConfig config, string name, bool required)
    {
        for (var i = 0; i < config.Inputs.Length; i++)
        {
            var input = config.Inputs[i];
            if (input.Name != name)
            {
                continue;
            }
            if (input.DataType is not (DataType.Int64 or DataType.Int32) || input.Dims is not [-1] || input.Reshape is not null)
            {
                throw Problem($"input '{name}' must be TYPE_INT64 or TYPE_INT32 with dims [ -1 ] and no reshape");
            }
            return i;
        }
        return required ? throw Problem($"an embedding model needs an input named '{name}'") : -1;
    }

    private static (int Index, int Dimensions) TokenOutput(ModelConfig config, string name)
    {
        for (var i = 0; i < config.Outputs.Length; i++)
        {
            var output = config.Outputs[i];
            if (output.Name != name)
            {
                continue;
            }
            if (output.DataType != DataType.Fp32 || output.Dims is not [-1, > 0 and <= 65536 and var size] || output.Reshape is not null)
            {
                throw Problem($"output '{name}' must be TYPE_FP32 with dims [ -1, <size> ] (a vector per token) and no reshape");
            }
            return (i, (int)size);
        }
        throw Problem($"the embedding output '{name}' is not among the model's outputs");
    }

    private static ImmutableArray<int> DimensionsList(string text, int dimensions)
    {
        var sizes = new SortedSet<int> { dimensions };
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var size) || size < 1 || size > dimensions)
            {
                throw Problem($"embedding_dimensions_allowed must list sizes from 1 to {dimensions}, got '{part}'");
            }
            sizes.Add(size);
        }
        return [.. sizes];
    }

    private static string Text(ImmutableDictionary<string, string> parameters, string key, string fallback) =>
        parameters.TryGetValue(key, out var value) ? value.Trim() : fallback;

    private static int Number(ImmutableDictionary<string, string> parameters, string key, int fallback, int minimum)
    {
        if (!parameters.TryGetValue(key, out var text))
        {
            return fallback;
        }
        return int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= minimum
            ? value
            : throw Problem($"{key} must be a whole number of at least {minimum}, got '{text}'");
    }

    private static InvalidOperationException Problem(string message) => new($"embedding parameters: {message}");
}
