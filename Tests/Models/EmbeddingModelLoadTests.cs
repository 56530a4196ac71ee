using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Tests.Protocol.OpenAi;
using Xunit;

namespace Fabrik.Tests.Models;

/// <summary>
/// An embedding model's parameters, tensors and vocabulary are checked when it loads: one that
/// cannot be served is UNAVAILABLE with the reason (never a failure of its requests), and the
/// others keep serving. And the pooling the parameters choose is the one served.
/// </summary>
public sealed class EmbeddingModelLoadTests
{
    private static string Parameter(string key, string value) => $$"""parameters { key: "{{key}}" value: { string_value: "{{value}}" } }""";

    [Fact]
    public async Task WrongSettings_LeaveTheModelUnavailable_WithTheReason()
    {
        var outside = Directory.CreateTempSubdirectory("fabrik-outside-");
        File.WriteAllText(Path.Combine(outside.FullName, "vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
        using var repository = new TemporaryRepository().Add("simple");
        var escape = Path.GetRelativePath(Path.Combine(repository.Path, "escape", "1"), Path.Combine(outside.FullName, "vocab.txt"));
        var cases = new Dictionary<string, (string Config, string Reason)>
        {
            ["pooling"] = (Parameter("embedding_pooling", "max"), "embedding_pooling must be"),
            ["escape"] = (Parameter("embedding_tokenizer", escape), "outside the model repository"),
            ["missing"] = (Parameter("embedding_tokenizer", "nowhere.txt"), "cannot be read"),
            ["dimensions"] = (Parameter("embedding_dimensions_allowed", "8,64"), "sizes from 1 to 32"),
            ["tokens"] = (Parameter("embedding_max_tokens", "1"), "at least 2"),
            ["output"] = (Parameter("embedding_output", "pooled"), "'pooled' is not among"),
        };
        foreach (var (name, (config, _)) in cases)
        {
            repository.Add(EmbeddingReference.Model, name, config);
        }
        repository.Add(EmbeddingReference.Model, "duplicate");
        File.WriteAllText(Path.Combine(repository.Path, "duplicate", "1", "vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nhello\n");
        cases["duplicate"] = ("", "not a WordPiece vocabulary");
        repository.Add(EmbeddingReference.Model, "sentencepiece", Parameter("embedding_tokenizer", "broken.model"));
        File.WriteAllBytes(Path.Combine(repository.Path, "sentencepiece", "1", "broken.model"), [0x0a, 0xff, 0xff, 0x01, 0x42, 0x00, 0x13]);
        cases["sentencepiece"] = ("", "not a SentencePiece model");

        await using var host = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--exit-on-error=false");
        using var http = host.CreateHttpClient();
        var index = JsonNode.Parse(await (await http.PostAsync("/v2/repository/index", null)).Content.ReadAsStringAsync())!.AsArray();
        foreach (var (name, (_, reason)) in cases)
        {
            var entry = index.Single(model => (string?)model!["name"] == name)!;
            Assert.Equal("UNAVAILABLE", (string?)entry["state"]);
            Assert.Contains(reason, (string?)entry["reason"], StringComparison.Ordinal);
            Assert.DoesNotContain(repository.Path, (string?)entry["reason"], StringComparison.Ordinal);
        }
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v2/models/simple/ready")).StatusCode);
        outside.Delete(recursive: true);
    }

    [Fact]
    public async Task ClsPooling_ServesTheFirstTokensVector()
    {
        using var repository = new TemporaryRepository().Add(EmbeddingReference.Model, extraConfig: Parameter("embedding_pooling", "cls"));
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", repository.Path);
        using var http = host.CreateHttpClient();
        using var reference = new EmbeddingReference();
        var response = await http.PostAsJsonAsync("/v1/embeddings", new { model = EmbeddingReference.Model, input = new[] { "hello world", "Zebras?" } });
        var data = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["data"]!.AsArray();
        for (var i = 0; i < 2; i++)
        {
            var vector = data[i]!["embedding"]!.AsArray().Select(value => (float)value!).ToArray();
            var ids = reference.Tokenize(i == 0 ? "hello world" : "Zebras?");
            EmbeddingsEndpointTests.AssertClose(reference.Embed(ids, cls: true), vector);
            Assert.NotEqual(reference.Embed(ids)[0], vector[0]);
        }
    }
}
