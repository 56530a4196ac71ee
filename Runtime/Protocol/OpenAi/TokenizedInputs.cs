using System.Globalization;
using Fabrik.Models.Embeddings;

namespace Fabrik.Protocol.OpenAi;

/// <summary>
/// A request's inputs as token ids, checked against the model's limits: at most
/// <see cref="EmbeddingSettings.MaxInputs"/> inputs, each from 1 to
/// <see cref="EmbeddingSettings.MaxTokens"/> tokens (special tokens included), at most
/// <see cref="EmbeddingSettings.MaxTotalTokens"/> in all, and every id inside the vocabulary.
/// Texts get the tokenizer's [CLS] and [SEP]; token arrays reach the encoder as sent.
/// </summary>
internal sealed class TokenizedInputs
{
    private TokenizedInputs(IReadOnlyList<int>[] tokens, int totalTokens)
    {
        Tokens = tokens;
        TotalTokens = totalTokens;
    }

    /// <summary>Each input's ids, in request order.</summary>
    public IReadOnlyList<int>[] Tokens { get; }

    /// <summary>The tokens of all inputs (OpenAI's <c>usage.prompt_tokens</c>).</summary>
    public int TotalTokens { get; }

    /// <exception cref="OpenAiException">400 naming the input and the limit it breaks.</exception>
    public static TokenizedInputs From(EmbeddingRequest request, EmbeddingModel model)
    {
        var settings = model.Settings;
        if (request.Count > settings.MaxInputs)
        {
            throw OpenAiException.Invalid(
                $"'input' holds {request.Count} items; model '{request.Model}' takes at most {settings.MaxInputs} per request", "input");
        }
        var tokens = new IReadOnlyList<int>[request.Count];
        var total = 0;
        for (var i = 0; i < tokens.Length; i++)
        {
            var ids = request.Texts is { } texts ? Tokenize(model, texts[i], i, out var truncated) : CheckIds(model, request.TokenArrays![i], i, out truncated);
            if (truncated || ids.Count > settings.MaxTokens)
            {
                throw OpenAiException.Invalid(
                    $"input[{i}] is longer than the {settings.MaxTokens} tokens model '{request.Model}' takes; shorten it (inputs are not truncated)", "input");
            }
            total += ids.Count;
            if (total > settings.MaxTotalTokens)
            {
                throw OpenAiException.Invalid(
                    $"the inputs hold more than the {settings.MaxTotalTokens} tokens model '{request.Model}' takes per request; send fewer per request", "input");
            }
            tokens[i] = ids;
        }
        return new TokenizedInputs(tokens, total);
    }

    /// <summary>The text's ids; <paramref name="truncated"/> when the tokenizer stopped before its end.</summary>
    private static IReadOnlyList<int> Tokenize(EmbeddingModel model, string text, int index, out bool truncated)
    {
        if (text.Length == 0)
        {
            throw OpenAiException.Invalid($"input[{index}] is an empty string", "input");
        }
        // Stops one token past the limit, so an over-long text (even megabytes of it) costs no
        // more than the limit to refuse.
        var maxTokens = model.Settings.MaxTokens;
        var ids = model.EncodeToIds(text, maxTokens + 1, out var normalized, out var consumed);
        // What the tokenizer left unread: nothing, or whitespace (which gives no token), unless it stopped at the limit.
        truncated = !(normalized ?? text).AsSpan(Math.Min(consumed, (normalized ?? text).Length)).IsWhiteSpace();
        return ids;
    }

    private static int[] CheckIds(EmbeddingModel model, int[] ids, int index, out bool truncated)
    {
        truncated = false;
        if (ids.Length == 0)
        {
            throw OpenAiException.Invalid($"input[{index}] is an empty token array", "input");
        }
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)model.VocabularySize)
            {
                throw OpenAiException.Invalid(string.Create(CultureInfo.InvariantCulture,
                    $"input[{index}] holds token id {id}, outside the model's vocabulary (0 to {model.VocabularySize - 1})"), "input");
            }
        }
        return ids;
    }
}
