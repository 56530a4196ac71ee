using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Fabrik.Tests.Protocol.OpenAi;

/// <summary>
/// An embedding model whose tokenizer is a SentencePiece model: the sample embedder's encoder
/// served with <c>embedding_tokenizer: "spm.model"</c>, the BPE model that models/generate.py
/// trained with Google's sentencepiece. The token ids sentencepiece itself gave each text (stored
/// beside it, <c>sentencepiece.json</c>) are the reference: the usage must count them, and each
/// vector must be the encoder's run on them, pooled and normalised by the test's own code.
/// </summary>
public sealed class EmbeddingsSentencePieceTests : IAsyncLifetime
{
    private const string Model = "embedder_sentencepiece";

    private readonly TemporaryRepository _repository = new TemporaryRepository()
        .Add(EmbeddingReference.Model, Model)
        .ReplaceInConfig(Model, "\"vocab.txt\"", "\"spm.model\"");

    private readonly EmbeddingReference _reference = new();
    private InMemoryFabrik _fabrik = null!;

    public async Task InitializeAsync() => _fabrik = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path);

    public async Task DisposeAsync()
    {
        await _fabrik.DisposeAsync();
        _reference.Dispose();
        _repository.Dispose();
    }

    private static (string Text, int[] Ids)[] Samples()
    {
        var path = Path.Combine(RepositoryLayout.Models, EmbeddingReference.Model, "sentencepiece.json");
        Assert.True(File.Exists(path), "models/generate.py writes sentencepiece.json (with python3-sentencepiece)");
        return [.. JsonNode.Parse(File.ReadAllText(path))!["samples"]!.AsArray()
            .Select(sample => ((string)sample!["text"]!, sample["ids"]!.AsArray().Select(id => (int)id!).ToArray()))];
    }

    [Fact]
    public async Task Embeddings_SentencePieceTokenizer_CountsAndEmbedsTheIdsSentencePieceGives()
    {
        // Texts of known pieces only: see the next test for characters the model has no piece for.
        var samples = Samples().Where(sample => !sample.Ids.Contains(0)).ToArray();
        Assert.True(samples.Length >= 4);
        using var http = _fabrik.CreateHttpClient();
        var response = await http.PostAsJsonAsync("/v1/embeddings", new { model = Model, input = samples.Select(sample => sample.Text).ToArray(), encoding_format = "float" });
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.IsSuccessStatusCode, json.ToJsonString());

        Assert.Equal(samples.Sum(sample => sample.Ids.Length), (int)json["usage"]!["prompt_tokens"]!);
        var data = json["data"]!.AsArray();
        Assert.Equal(samples.Length, data.Count);
        for (var i = 0; i < samples.Length; i++)
        {
            var vector = data[i]!["embedding"]!.AsArray().Select(value => (float)value!).ToArray();
            EmbeddingsEndpointTests.AssertClose(_reference.Embed(samples[i].Ids), vector);
        }
    }

    [Fact]
    public async Task Embeddings_CharactersWithoutAPiece_AreOneUnknownIdEach()
    {
        // SentencePiece merges a run of characters it has no piece for into one <unk> (id 0);
        // Microsoft.ML.Tokenizers 3.0.0 gives one <unk> per character. The sample's "42" is such
        // a run: one id more than sentencepiece gives, and the rest the same (docs/embeddings.md).
        var (text, ids) = Assert.Single(Samples(), sample => sample.Ids.Contains(0));
        var run = Array.IndexOf(ids, 0);
        int[] expected = [.. ids[..run], 0, .. ids[run..]];
        using var http = _fabrik.CreateHttpClient();
        var response = await http.PostAsJsonAsync("/v1/embeddings", new { model = Model, input = new[] { text }, encoding_format = "float" });
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.IsSuccessStatusCode, json.ToJsonString());
        Assert.Equal(expected.Length, (int)json["usage"]!["prompt_tokens"]!);
        var vector = json["data"]![0]!["embedding"]!.AsArray().Select(value => (float)value!).ToArray();
        EmbeddingsEndpointTests.AssertClose(_reference.Embed(expected), vector);
    }

    [Fact]
    public async Task Embeddings_SentencePieceTokenArrayPastTheVocabulary_IsA400()
    {
        // The SentencePiece model has fewer pieces than the encoder's WordPiece vocabulary: the
        // tokenizer's own count is the limit.
        var pieces = JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryLayout.Models, EmbeddingReference.Model, "sentencepiece.json")))!["vocabulary_size"]!.GetValue<int>();
        using var http = _fabrik.CreateHttpClient();
        var response = await http.PostAsJsonAsync("/v1/embeddings", new { model = Model, input = new[] { new[] { 1, pieces, 2 } } });
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains($"0 to {pieces - 1}", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
