using Fabrik.Configuration;
using Microsoft.ML.Tokenizers;

namespace Fabrik.Models.Embeddings;

/// <summary>
/// A loaded embedding model's own part: its settings and its tokenizer, read with
/// Microsoft.ML.Tokenizers: a SentencePiece model (a file named <c>*.model</c>, the ModelProto
/// that SentencePiece's trainer writes; <see cref="SentencePieceTokenizer"/>), or else a WordPiece
/// vocabulary, one token per line (<see cref="BertTokenizer"/>). Built by the loader with the
/// version, from the same folder the backend loads (the verified copy when models are signed).
/// Immutable and thread-safe: the tokenizers keep no per-call state.
/// </summary>
internal sealed class EmbeddingModel
{
    private const int MaximumVocabularyBytes = 64 << 20;

    private readonly Tokenizer _tokenizer;

    private EmbeddingModel(EmbeddingSettings settings, Tokenizer tokenizer, int vocabularySize)
    {
        Settings = settings;
        _tokenizer = tokenizer;
        VocabularySize = vocabularySize;
    }

    public EmbeddingSettings Settings { get; }

    /// <summary>The number of token ids; a token array from a client must stay below it.</summary>
    public int VocabularySize { get; }

    /// <summary>The embedding part of a version in <paramref name="versionDirectory"/>, or null
    /// when <paramref name="config"/> is not an embedding model.</summary>
    /// <param name="config">The completed configuration.</param>
    /// <param name="root">The folder every file must lie inside (the repository, or the verified copy's).</param>
    /// <param name="versionDirectory">The version folder the tokenizer file sits in.</param>
    /// <exception cref="InvalidOperationException">The settings or the tokenizer file are wrong; the message says why.</exception>
    public static EmbeddingModel? Load(ModelConfig config, string root, string versionDirectory)
    {
        if (EmbeddingSettings.From(config) is not { } settings)
        {
            return null;
        }
        var path = ModelRepository.Confine(root, Path.Combine(versionDirectory, settings.TokenizerFile));
        byte[] vocabulary;
        try
        {
            if (new FileInfo(path).Length > MaximumVocabularyBytes)
            {
                throw new InvalidOperationException($"embedding tokenizer '{settings.TokenizerFile}' is over {MaximumVocabularyBytes >> 20} MiB");
            }
            vocabulary = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"embedding tokenizer '{settings.TokenizerFile}' cannot be read: {e.GetType().Name}", e);
        }
        if (settings.TokenizerFile.EndsWith(".model", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var pieces = SentencePieceTokenizer.Create(new MemoryStream(vocabulary, writable: false), addBeginningOfSentence: true, addEndOfSentence: true);
                return new EmbeddingModel(settings, pieces, pieces.Vocabulary.Count);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or InvalidDataException
                or NotSupportedException or IOException) // a malformed ModelProto is an IOException
            {
                throw new InvalidOperationException($"embedding tokenizer '{settings.TokenizerFile}' is not a SentencePiece model that Microsoft.ML.Tokenizers reads (BPE or Unigram)", e);
            }
        }
        try
        {
            return new EmbeddingModel(settings, BertTokenizer.Create(new MemoryStream(vocabulary, writable: false)), LineCount(vocabulary));
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or InvalidDataException)
        {
            throw new InvalidOperationException($"embedding tokenizer '{settings.TokenizerFile}' is not a WordPiece vocabulary (one token per line, with [UNK], [CLS], [SEP] and [PAD])", e);
        }
    }

    /// <summary>The ids of <paramref name="text"/> with the model's markers around them ([CLS] and
    /// [SEP] for WordPiece, &lt;s&gt; and &lt;/s&gt; for SentencePiece), at most
    /// <paramref name="maxTokens"/>; <paramref name="consumed"/> characters of
    /// <paramref name="normalized"/> (the text itself when null) were read.</summary>
    public IReadOnlyList<int> EncodeToIds(string text, int maxTokens, out string? normalized, out int consumed) => _tokenizer switch
    {
        BertTokenizer bert => bert.EncodeToIds(text, maxTokens, addSpecialTokens: true, out normalized, out consumed),
        SentencePieceTokenizer pieces => pieces.EncodeToIds(text, addBeginningOfSentence: true, addEndOfSentence: true, maxTokens, out normalized, out consumed),
        _ => _tokenizer.EncodeToIds(text, maxTokens, out normalized, out consumed),
    };

    /// <summary>The tokens in a vocabulary file: one per line (the last may lack its newline).</summary>
    private static int LineCount(ReadOnlySpan<byte> vocabulary)
    {
        var lines = vocabulary.Count((byte)'\n');
        return vocabulary.Length > 0 && vocabulary[^1] != (byte)'\n' ? lines + 1 : lines;
    }
}
