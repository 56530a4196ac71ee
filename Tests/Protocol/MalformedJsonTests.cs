using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>A body that is not valid JSON gets a 400 in our own words: the byte offset of the
/// fault and what the grammar expects there, never System.Text.Json's message.</summary>
[Collection(ServerCollection.Name)]
public sealed class MalformedJsonTests(ServerFixture fixture)
{
    /// <summary>Phrases of System.Text.Json's messages (JsonException, Utf8JsonReader, JsonDocument).</summary>
    private static readonly string[] LibraryPhrases =
    [
        "is an invalid start of a value", "LineNumber", "BytePositionInLine", "Path: $", "Expected depth",
        "is invalid after a value", "Expected a ',' or", "'}' is invalid", "']' is invalid", "System.Text.Json",
        "JsonReaderException", "Cannot get the value of a token type",
    ];

    /// <summary>Body, offset of the fault (counted by hand) and what must be said to be expected there.</summary>
    public static TheoryData<string, string, string> Bodies => new()
    {
        { "{\"inputs\": [}", "unexpected '}' at byte 12", "expected a value or ']'" },
        { "{\"inputs\" [1]}", "unexpected '[' at byte 10", "expected ':' after the property name" },
        { "{\"id\": \"a\" \"inputs\": []}", "unexpected '\"' at byte 11", "expected ',' or '}'" },
        { "{\"id\": \"a\", }", "unexpected '}' at byte 12", "expected a property name in double quotes" },
        { "{\"inputs\": [", "ends at byte 12 before the JSON is complete", "expected a value or ']'" },
        { "{\n  \"inputs\": x\n}", "unexpected 'x' at byte 14", "expected a value" },
        { "{} {}", "unexpected '{' at byte 3", "expected nothing more after the JSON value" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task Infer_MalformedJson_Answers400InOwnWords(string body, string where, string expected)
    {
        var error = await PostAsync("/v2/models/simple/infer", body);
        AssertOwnWords(error, where, expected);
    }

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task RepositoryIndexAndTraceSetting_MalformedJson_Answer400InOwnWords(string body, string where, string expected)
    {
        AssertOwnWords(await PostAsync("/v2/repository/index", body), where, expected);
        AssertOwnWords(await PostAsync("/v2/trace/setting", body), where, expected);
    }

    [Fact]
    public async Task Infer_ValueOfTheWrongJsonType_Answers400InOwnWords()
    {
        var error = await PostAsync("/v2/models/simple/infer", "{\"inputs\":[{\"name\":\"INPUT0\",\"datatype\":\"INT32\",\"shape\":[1,\"16\"],\"data\":[1]}]}");
        AssertNoLibraryWording(error);
    }

    private async Task<string> PostAsync(string path, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await fixture.Client.PostAsync(path, content);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path}: {(int)response.StatusCode} {text}");
        return (string?)JsonNode.Parse(text)!["error"] ?? throw new Xunit.Sdk.XunitException($"no error in {text}");
    }

    private static void AssertOwnWords(string error, string where, string expected)
    {
        Assert.StartsWith("malformed JSON in the request body", error, StringComparison.Ordinal);
        Assert.Contains(where, error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        AssertNoLibraryWording(error);
    }

    private static void AssertNoLibraryWording(string error)
    {
        foreach (var phrase in LibraryPhrases)
        {
            Assert.DoesNotContain(phrase, error, StringComparison.OrdinalIgnoreCase);
        }
    }
}
