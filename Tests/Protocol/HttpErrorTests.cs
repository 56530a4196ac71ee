using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>Bad requests get a 4xx with {"error": ...} naming the problem, and the server keeps
/// serving afterwards.</summary>
[Collection(ServerCollection.Name)]
public sealed class HttpErrorTests(ServerFixture fixture)
{
    private const string Ones = "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1";

    private readonly HttpClient _client = fixture.Client;

    public static TheoryData<string, string, HttpStatusCode, string> BadRequests => new()
    {
        { "simple", "{\"inputs\": [", HttpStatusCode.BadRequest, "malformed JSON" },
        { "simple", "[1,2,3]", HttpStatusCode.BadRequest, "must be a JSON object" },
        { "simple", "{}", HttpStatusCode.BadRequest, "no 'inputs'" },
        { "simple", Simple("INPUT0", "INT32", "[1,16]", Ones) + "]}", HttpStatusCode.BadRequest, "input 'INPUT1' is missing" },
        { "simple", Simple("INPUT0", "FP32", "[1,16]", Ones) + "," + Simple("INPUT1", "INT32", "[1,16]", Ones, false), HttpStatusCode.BadRequest, "data-type is 'FP32', but model 'simple' expects 'INT32'" },
        { "simple", Simple("INPUT0", "INT32", "[1,15]", Ones) + "," + Simple("INPUT1", "INT32", "[1,16]", Ones, false), HttpStatusCode.BadRequest, "unexpected shape for input 'INPUT0'" },
        { "simple", Simple("INPUT0", "INT32", "[1,16]", Ones + ",1") + "," + Simple("INPUT1", "INT32", "[1,16]", Ones, false), HttpStatusCode.BadRequest, "expected 16 elements (from its shape), got 17" },
        { "simple", Simple("INPUT0", "INT32", "[1,-16]", Ones) + "," + Simple("INPUT1", "INT32", "[1,16]", Ones, false), HttpStatusCode.BadRequest, "negative dimension" },
        { "simple", Simple("INPUT0", "INT32", "[9,16]", Ones) + "," + Simple("INPUT1", "INT32", "[9,16]", Ones, false), HttpStatusCode.BadRequest, "batch-size must be <= 8" },
        { "simple", Simple("INPUT0", "INT32", "[1,16]", Ones) + "," + Simple("INPUT0", "INT32", "[1,16]", Ones, false), HttpStatusCode.BadRequest, "appears more than once" },
        { "simple", Simple("INPUT9", "INT32", "[1,16]", Ones) + "]}", HttpStatusCode.BadRequest, "unexpected inference input 'INPUT9'" },
        { "simple", Simple("INPUT0", "INT32", "[1,16]", "1.5," + Ones[2..]) + "," + Simple("INPUT1", "INT32", "[1,16]", Ones, false), HttpStatusCode.BadRequest, "element 0 is not a valid INT32 value" },
        { "simple", Simple("INPUT0", "INT32", "[1,16]", "9999999999," + Ones[2..]) + "," + Simple("INPUT1", "INT32", "[1,16]", Ones, false), HttpStatusCode.BadRequest, "element 0 is not a valid INT32 value" },
        { "simple", Simple("INPUT0", "INT32", "[1,4294967296,4294967296,16]", Ones) + "," + Simple("INPUT1", "INT32", "[1,16]", Ones, false), HttpStatusCode.BadRequest, "unexpected shape" },
        { "simple", Simple("INPUT0", "COMPLEX", "[1,16]", Ones) + "]}", HttpStatusCode.BadRequest, "unknown datatype 'COMPLEX'" },
        { "strings", Simple("INPUT0", "BYTES", "[1,16]", Ones) + "," + Simple("INPUT1", "BYTES", "[1,16]", Ones, false), HttpStatusCode.BadRequest, "BYTES elements travel as JSON strings" },
        { "nonexistent", "{}", HttpStatusCode.NotFound, "'nonexistent' is not found" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Infer_BadRequest_Returns4xxNamingTheProblem(string model, string body, HttpStatusCode status, string messagePart)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _client.PostAsync($"/v2/models/{model}/infer", content);

        Assert.Equal(status, response.StatusCode);
        var error = (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"];
        Assert.NotNull(error);
        Assert.Contains(messagePart, error, StringComparison.Ordinal);

        await AssertStillServesAsync();
    }

    private static string Simple(string name, string datatype, string shape, string data, bool open = true) =>
        (open ? "{\"inputs\":[" : "") + $"{{\"name\":\"{name}\",\"datatype\":\"{datatype}\",\"shape\":{shape},\"data\":[{data}]}}" + (open ? "" : "]}");

    private Task AssertStillServesAsync() => StillServing.AssertSimpleAsync(_client);
}
