using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI.Embeddings;
using Xunit;

namespace Fabrik.Tests.Protocol.OpenAi;

/// <summary>
/// Bad and hostile embeddings requests: each is a 400 (404 for a model that is not an embedding
/// model) in OpenAI's error shape, naming the field at fault, and the server answers a good
/// request right after.
/// </summary>
[Collection(EmbeddingCollection.Name)]
public sealed class EmbeddingsHostileInputTests(EmbeddingHost host)
{
    public static TheoryData<string, string, string?> BadBodies() => new()
    {
        { """{"model": "embedder", "input": ""}""", "empty string", "input" },
        { """{"model": "embedder", "input": []}""", "must not be empty", "input" },
        { """{"model": "embedder", "input": [[]]}""", "empty token array", "input" },
        { """{"model": "embedder", "input": ["a", ""]}""", "input[1] is an empty string", "input" },
        { """{"model": "embedder"}""", "'input' is required", "input" },
        { """{"input": "hello"}""", "'model' is required", "model" },
        { """{"model": "embedder", "input": 5}""", "must be a string, an array of strings", "input" },
        { """{"model": "embedder", "input": ["a", 5]}""", "must be a string, an array of strings", "input" },
        { """{"model": "embedder", "input": [[1, 2], "a"]}""", "must be a string, an array of strings", "input" },
        { """{"model": "embedder", "input": [1.5, 2]}""", "whole numbers", "input" },
        { """{"model": "embedder", "input": [2, 100000, 3]}""", "outside the model's vocabulary", "input" },
        { """{"model": "embedder", "input": [[2, 3], [-1]]}""", "token id -1", "input" },
        { """{"model": "embedder", "input": "hello", "dimensions": 0}""", "at least 1", "dimensions" },
        { """{"model": "embedder", "input": "hello", "dimensions": 7}""", "not 7", "dimensions" },
        { """{"model": "embedder", "input": "hello", "dimensions": 64}""", "not 64", "dimensions" },
        { """{"model": "embedder", "input": "hello", "dimensions": 99999999999}""", "at least 1", "dimensions" },
        { """{"model": "embedder", "input": "hello", "encoding_format": "int8"}""", "\"float\" or \"base64\"", "encoding_format" },
        { """{"model": "embedder", "input": "hello", "user": 5}""", "'user' must be a string", "user" },
        { """{"model": "embedder", "input": "hello" """, "JSON", null },
        { """[1, 2]""", "JSON object", null },
        { """{"model": "embedder", "input": "hello"} {}""", "JSON", null },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task BadBody_Is400_InOpenAisShape_AndTheServerStaysUp(string body, string expected, string? param)
    {
        await AssertRefusedAsync(Encoding.UTF8.GetBytes(body), HttpStatusCode.BadRequest, expected, param);
    }

    [Fact]
    public async Task TenThousandStrings_Is400()
    {
        var body = new JsonObject { ["model"] = "embedder", ["input"] = new JsonArray([.. Enumerable.Repeat("hello", 10_000).Select(text => (JsonNode)text!)]) };
        await AssertRefusedAsync(Encoding.UTF8.GetBytes(body.ToJsonString()), HttpStatusCode.BadRequest, "at most 2048", "input");
    }

    [Fact]
    public async Task TenMegabyteString_Is400()
    {
        var body = new JsonObject { ["model"] = "embedder", ["input"] = new string('a', 5) + string.Concat(Enumerable.Repeat(" word", 2_000_000)) };
        await AssertRefusedAsync(Encoding.UTF8.GetBytes(body.ToJsonString()), HttpStatusCode.BadRequest, "longer than the 128 tokens", "input");
    }

    [Fact]
    public async Task OneTokenOverTheLimit_Is400()
    {
        // 127 words and [CLS], [SEP]: one more than the 128 tokens the sample model takes.
        var body = new JsonObject { ["model"] = "embedder", ["input"] = string.Join(' ', Enumerable.Repeat("hello world", 63)) + " dog" };
        await AssertRefusedAsync(Encoding.UTF8.GetBytes(body.ToJsonString()), HttpStatusCode.BadRequest, "longer than the 128 tokens", "input");
        var ids = new JsonArray([.. Enumerable.Repeat(10, 129).Select(id => (JsonNode)id)]);
        await AssertRefusedAsync(Encoding.UTF8.GetBytes(new JsonObject { ["model"] = "embedder", ["input"] = ids }.ToJsonString()), HttpStatusCode.BadRequest, "longer than the 128 tokens", "input");
    }

    [Fact]
    public async Task TooManyTokensInAll_Is400()
    {
        // 300 inputs of about 100 tokens each: over the 32768 tokens a request may carry.
        var text = string.Join(' ', Enumerable.Repeat("hello world", 50));
        var body = new JsonObject { ["model"] = "embedder", ["input"] = new JsonArray([.. Enumerable.Repeat(text, 400).Select(value => (JsonNode)value!)]) };
        await AssertRefusedAsync(Encoding.UTF8.GetBytes(body.ToJsonString()), HttpStatusCode.BadRequest, "more than the 32768 tokens", "input");
    }

    [Fact]
    public async Task InvalidUtf8_Is400()
    {
        var body = Encoding.UTF8.GetBytes("""{"model": "embedder", "input": "hello XX world"}""");
        var at = Array.IndexOf(body, (byte)'X');
        body[at] = 0xC3;
        body[at + 1] = 0x28;
        await AssertRefusedAsync(body, HttpStatusCode.BadRequest, "UTF-8", null);
    }

    [Theory]
    [InlineData("simple")]
    [InlineData("no-such-model")]
    [InlineData("../embedder")]
    public async Task ModelThatIsNoEmbeddingModel_Is404ModelNotFound(string model)
    {
        var body = new JsonObject { ["model"] = model, ["input"] = "hello" };
        var error = await AssertRefusedAsync(Encoding.UTF8.GetBytes(body.ToJsonString()), HttpStatusCode.NotFound, "does not exist", "model");
        Assert.Equal("model_not_found", (string?)error["code"]);
    }

    [Fact]
    public async Task Sdk_SeesTheStatusAndTheMessage()
    {
        var refused = await Assert.ThrowsAsync<ClientResultException>(() => host.Sdk().GenerateEmbeddingAsync("hello", new EmbeddingGenerationOptions { Dimensions = 5 }));
        Assert.Equal(400, refused.Status);
        Assert.Contains("not 5", refused.Message, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => host.Sdk("no-such-model").GenerateEmbeddingAsync("hello"));
        Assert.Equal(404, unknown.Status);
    }

    private async Task<JsonNode> AssertRefusedAsync(byte[] body, HttpStatusCode status, string expected, string? param)
    {
        using (var content = new ByteArrayContent(body))
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await host.Http.PostAsync("v1/embeddings", content);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"{response.StatusCode}: {text}");
            var error = JsonNode.Parse(text)!["error"]!;
            Assert.Contains(expected, (string?)error["message"], StringComparison.Ordinal);
            Assert.Equal("invalid_request_error", (string?)error["type"]);
            Assert.Equal(param, (string?)error["param"]);
            Assert.True(response.Headers.Contains("x-request-id"));
            // The server is up and still right.
            var good = (await host.Sdk().GenerateEmbeddingAsync("hello world")).Value;
            EmbeddingsEndpointTests.AssertClose(host.Reference.Embed("hello world"), good.ToFloats().ToArray());
            return error;
        }
    }
}
