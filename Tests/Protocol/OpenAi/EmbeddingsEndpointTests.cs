using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI.Embeddings;
using OpenAI.Models;
using Xunit;

namespace Fabrik.Tests.Protocol.OpenAi;

/// <summary>
/// <c>POST /v1/embeddings</c> and <c>GET /v1/models</c> through the official OpenAI .NET SDK (and
/// raw HTTP for what the SDK does not send), on the in-memory server. Every vector is compared
/// with <see cref="EmbeddingReference"/>, which runs the ONNX model and pools on its own.
/// </summary>
[Collection(EmbeddingCollection.Name)]
public sealed class EmbeddingsEndpointTests(EmbeddingHost host)
{
    private const float Tolerance = 1e-4f;

    internal static readonly string[] Texts =
    [
        "hello world",
        "The quick brown fox jumps over the lazy dog.",
        "Zebras?",
        string.Join(' ', Enumerable.Repeat("search the documents for a vector model", 8)),
        "hello world",
    ];

    [Fact]
    public async Task Sdk_SingleText_MatchesTheReference()
    {
        var embedding = (await host.Sdk().GenerateEmbeddingAsync("hello world")).Value;
        AssertClose(host.Reference.Embed("hello world"), embedding.ToFloats().ToArray());
    }

    [Fact]
    public async Task Sdk_BatchOfTextsOfDifferentLengths_EachMatchesTheReference_InOrder_WithUsage()
    {
        var collection = (await host.Sdk().GenerateEmbeddingsAsync(Texts)).Value;
        Assert.Equal(Texts.Length, collection.Count);
        for (var i = 0; i < Texts.Length; i++)
        {
            Assert.Equal(i, collection[i].Index);
            AssertClose(host.Reference.Embed(Texts[i]), collection[i].ToFloats().ToArray());
        }
        var tokens = Texts.Sum(text => host.Reference.Tokenize(text).Length);
        Assert.Equal(tokens, collection.Usage.InputTokenCount);
        Assert.Equal(tokens, collection.Usage.TotalTokenCount);
        Assert.Equal(EmbeddingReference.Model, collection.Model);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(32)]
    public async Task Sdk_Dimensions_TruncatesThenRenormalises(int dimensions)
    {
        var embedding = (await host.Sdk().GenerateEmbeddingAsync(Texts[1], new EmbeddingGenerationOptions { Dimensions = dimensions })).Value;
        var vector = embedding.ToFloats().ToArray();
        Assert.Equal(dimensions, vector.Length);
        AssertClose(host.Reference.Embed(Texts[1], dimensions), vector);
        Assert.Equal(1.0, Math.Sqrt(vector.Sum(value => (double)value * value)), 4);
    }

    [Fact]
    public async Task Sdk_TokenArrays_AreEmbeddedAsSent()
    {
        int[][] arrays = [host.Reference.Tokenize("hello world"), [2, 40, 41, 42, 3], [7, 8, 9]];
        var collection = (await host.Sdk().GenerateEmbeddingsAsync(arrays.Select(ids => new ReadOnlyMemory<int>(ids)))).Value;
        for (var i = 0; i < arrays.Length; i++)
        {
            AssertClose(host.Reference.Embed(arrays[i]), collection[i].ToFloats().ToArray());
        }
        Assert.Equal(arrays.Sum(ids => ids.Length), collection.Usage.InputTokenCount);
    }

    [Theory]
    [InlineData("hello world  \n\t ")]
    [InlineData("  hello world")]
    [InlineData("?!")]
    public async Task Sdk_WhitespaceAndPunctuation_AreEmbeddedAsTheReferenceTokenisesThem(string text)
    {
        var embedding = (await host.Sdk().GenerateEmbeddingAsync(text)).Value;
        AssertClose(host.Reference.Embed(text), embedding.ToFloats().ToArray());
    }

    [Fact]
    public async Task Sdk_InputOfExactlyMaxTokens_IsAccepted()
    {
        // 126 words and [CLS], [SEP]: the 128 tokens the sample model takes.
        var text = string.Join(' ', Enumerable.Repeat("hello world", 63));
        Assert.Equal(128, host.Reference.Tokenize(text).Length);
        var embedding = (await host.Sdk().GenerateEmbeddingAsync(text)).Value;
        AssertClose(host.Reference.Embed(text), embedding.ToFloats().ToArray());
    }

    [Fact]
    public async Task Http_FloatFormat_HasOpenAisShape()
    {
        var json = await PostAsync("""{"model": "embedder", "input": ["hello world", "Zebras?"], "encoding_format": "float", "user": "u-1"}""", HttpStatusCode.OK);
        Assert.Equal("list", (string?)json["object"]);
        Assert.Equal("embedder", (string?)json["model"]);
        var data = json["data"]!.AsArray();
        Assert.Equal(2, data.Count);
        for (var i = 0; i < data.Count; i++)
        {
            Assert.Equal("embedding", (string?)data[i]!["object"]);
            Assert.Equal(i, (int)data[i]!["index"]!);
            var vector = data[i]!["embedding"]!.AsArray().Select(value => (float)value!).ToArray();
            AssertClose(host.Reference.Embed(i == 0 ? "hello world" : "Zebras?"), vector);
        }
        var tokens = host.Reference.Tokenize("hello world").Length + host.Reference.Tokenize("Zebras?").Length;
        Assert.Equal(tokens, (int)json["usage"]!["prompt_tokens"]!);
        Assert.Equal(tokens, (int)json["usage"]!["total_tokens"]!);
    }

    [Fact]
    public async Task Http_Base64Format_IsLittleEndianFloat32()
    {
        var json = await PostAsync("""{"model": "embedder", "input": "hello world", "encoding_format": "base64", "dimensions": 16}""", HttpStatusCode.OK);
        var bytes = Convert.FromBase64String((string)json["data"]![0]!["embedding"]!);
        var vector = Enumerable.Range(0, bytes.Length / 4).Select(i => System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4))).ToArray();
        AssertClose(host.Reference.Embed("hello world", 16), vector);
    }

    [Fact]
    public async Task Http_SingleTokenArray_IsOneInput()
    {
        var json = await PostAsync("""{"model": "embedder", "input": [2, 10, 11, 3]}""", HttpStatusCode.OK);
        var vector = json["data"]![0]!["embedding"]!.AsArray().Select(value => (float)value!).ToArray();
        AssertClose(host.Reference.Embed([2, 10, 11, 3]), vector);
        Assert.Single(json["data"]!.AsArray());
    }

    [Fact]
    public async Task ConcurrentRequests_OfMixedLengths_EachGetItsOwnVectors()
    {
        var sdk = host.Sdk();
        var requests = Enumerable.Range(0, 24).Select(i => sdk.GenerateEmbeddingAsync(Texts[i % Texts.Length])).ToArray();
        var results = await Task.WhenAll(requests);
        for (var i = 0; i < results.Length; i++)
        {
            AssertClose(host.Reference.Embed(Texts[i % Texts.Length]), results[i].Value.ToFloats().ToArray());
        }
    }

    [Fact]
    public async Task Models_ListsTheEmbeddingModelsOnly_InOpenAisShape()
    {
        var models = (await new OpenAIModelClient(new ApiKeyCredential("unused"), EmbeddingHost.SdkOptions(host.Http)).GetModelsAsync()).Value;
        var model = Assert.Single(models);
        Assert.Equal(EmbeddingReference.Model, model.Id);
        Assert.Equal("fabrik", model.OwnedBy);
        Assert.True(model.CreatedAt > DateTimeOffset.UtcNow.AddHours(-1));

        var one = await host.Http.GetAsync("v1/models/embedder");
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        Assert.Equal("model", (string?)JsonNode.Parse(await one.Content.ReadAsStringAsync())!["object"]);
        var other = await host.Http.GetAsync("v1/models/simple");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.Equal("model_not_found", (string?)JsonNode.Parse(await other.Content.ReadAsStringAsync())!["error"]!["code"]);
    }

    [Fact]
    public async Task InputsOfOneLengthBucket_RunAsOneBatch_EachBucketItsOwn()
    {
        // Three inputs of 3 tokens (bucket 8) and two of 58 (bucket 64): two inferences of 3 and 2 rows.
        var before = await StatisticsAsync();
        await host.Sdk().GenerateEmbeddingsAsync(["hello", Texts[3], "world", "dog", Texts[3]]);
        var after = await StatisticsAsync();
        Assert.Equal(2, (long)after["inference_stats"]!["success"]!["count"]! - (long)before["inference_stats"]!["success"]!["count"]!);
        Assert.Equal(5, (long)after["inference_count"]! - (long)before["inference_count"]!);
    }

    private async Task<JsonNode> StatisticsAsync() =>
        JsonNode.Parse(await host.Http.GetStringAsync("v2/models/embedder/stats"))!["model_stats"]![0]!;

    private async Task<JsonNode> PostAsync(string body, HttpStatusCode expected)
    {
        using var response = await host.Http.PostAsync("v1/embeddings", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    internal static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= Tolerance, $"element {i}: expected {expected[i]}, got {actual[i]}");
        }
    }
}
