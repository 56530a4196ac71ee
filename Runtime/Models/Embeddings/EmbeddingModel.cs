using Fabrik.Configuration;
using Microsoft.ML.Tokenizers;

namespace Fabrik.Models.Embeddings;

/// <summary>
/// A loaded embedding model's own part: its settings and its tokenizer (a WordPiece vocabulary,
/// one token per line, read with Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>). Built by
/// the loader with the version, from the same folder the backend loads (the verified copy when
/// models are signed). Immutable and thread-safe: the tokenizer keeps no per-call state.
/// </summary>
internal sealed class EmbeddingModel
{
    private const int MaximumVocabularyBytes = 64 << 20;

    private EmbeddingModel(EmbeddingSettings settings, BertTokenizer tokenizer, int vocabularySize)
    {
        Settings = settings;
        Tokenizer = tokenizer;
        VocabularySize = vocabularySize;
    }

    public EmbeddingSettings Settings { get; }

    /// <summary>Turns text into token ids, with [CLS] and [SEP] around them.</summary>
    public BertTokenizer Tokenizer { get; }

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
        BertTokenizer tokenizer;
        try
        {
            tokenizer = BertTokenizer.Create(new MemoryStream(vocabulary, writable: false));
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or InvalidDataException)
        {
            throw new InvalidOperationException($"embedding tokenizer '{settings.TokenizerFile}' is not a WordPiece vocabulary (one token per line, with [UNK], [CLS], [SEP] and [PAD])", e);
        }
        return new EmbeddingModel(settings, tokenizer, LineCount(vocabulary));
    }

    /// <summary>The tokens in a vocabulary file: one per line (the last may lack its newline).</summary>
    private static int LineCount(ReadOnlySpan<byte> vocabulary)
    {
        var lines = vocabulary.Count((byte)'\n');
        return vocabulary.Length > 0 && vocabulary[^1] != (byte)'\n' ? lines + 1 : lines;
    }
}
