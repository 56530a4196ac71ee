using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// NaN, Infinity and -Infinity as bare JSON literals, which the Triton Python client sends for
/// non-finite floats and Triton reads and writes: the identity model returns them as sent.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class NonFiniteJsonTests(ServerFixture fixture)
{
    private static readonly string[] FloatInputs = ["INPUT_FP16", "INPUT_BF16", "INPUT_FP32", "INPUT_FP64"];

    [Fact]
    public async Task Infer_BareNonFiniteLiterals_AreReadAndWrittenBackAsTritonDoes()
    {
        var body = IdentityBody(binaryInput: null);

        using var response = await fixture.Client.PostAsync("/v2/models/identity/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        foreach (var input in FloatInputs)
        {
            Assert.Equal("[NaN,Infinity,-Infinity]", OutputData(text, input.Replace("INPUT", "OUTPUT", StringComparison.Ordinal)));
        }
        // A finite output beside them is unchanged.
        Assert.Equal("[-3,0,2147483647]", OutputData(text, "OUTPUT_INT32"));
    }

    [Fact]
    public async Task Infer_BareLiteralsInABinaryExtensionHeader_KeepTheBinaryData()
    {
        var json = Encoding.UTF8.GetBytes(IdentityBody(binaryInput: "INPUT_INT32"));
        byte[] binary = [.. BitConverter.GetBytes(-3), .. BitConverter.GetBytes(0), .. BitConverter.GetBytes(int.MaxValue)];
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/identity/infer") { Content = new ByteArrayContent([.. json, .. binary]) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("Inference-Header-Content-Length", json.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));

        using var response = await fixture.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("[NaN,Infinity,-Infinity]", OutputData(text, "OUTPUT_FP32"));
        Assert.Equal("[-3,0,2147483647]", OutputData(text, "OUTPUT_INT32"));
    }

    [Theory]
    [InlineData("[nan,1,2]")]
    [InlineData("[NaNa,1,2]")]
    [InlineData("[Infinityx,1,2]")]
    [InlineData("[+Infinity,1,2]")]
    public async Task Infer_NearMissLiterals_Are400(string data)
    {
        var body = "{\"inputs\":[{\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,3],\"data\":" + data + "}]}";
        using var response = await fixture.Client.PostAsync("/v2/models/mlp/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Infer_QuotedLiteralInAnIntegerInput_Is400()
    {
        var body = "{\"inputs\":[{\"name\":\"INPUT0\",\"datatype\":\"INT32\",\"shape\":[1,16],\"data\":[NaN,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}," +
                   "{\"name\":\"INPUT1\",\"datatype\":\"INT32\",\"shape\":[1,16],\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}";
        using var response = await fixture.Client.PostAsync("/v2/models/simple/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("element 0 is not a valid INT32 value", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    /// <summary>The identity sample as JSON text, its float inputs holding the three literals
    /// (written by hand: System.Text.Json cannot write them) and <paramref name="binaryInput"/>, if
    /// any, moved to the binary section.</summary>
    private static string IdentityBody(string? binaryInput)
    {
        var inputs = new List<string>();
        foreach (var input in Samples.Sample("identity", 0)["inputs"]!.AsArray())
        {
            var node = input!.DeepClone().AsObject();
            var name = (string)node["name"]!;
            if (name == "INPUT_INT32")
            {
                node["data"] = new JsonArray(-3, 0, int.MaxValue);
            }
            if (name == binaryInput)
            {
                node.Remove("data");
                node["parameters"] = new JsonObject { ["binary_data_size"] = 12 };
            }
            if (Array.IndexOf(FloatInputs, name) >= 0)
            {
                node["shape"] = new JsonArray(3);
                node["data"] = "@";
                inputs.Add(node.ToJsonString().Replace("\"@\"", "[NaN, Infinity,-Infinity ]", StringComparison.Ordinal));
            }
            else
            {
                inputs.Add(node.ToJsonString());
            }
        }
        return "{\"inputs\":[" + string.Join(",", inputs) + "]}";
    }

    /// <summary>The "data" array text of output <paramref name="name"/> in a response.</summary>
    private static string OutputData(string response, string name)
    {
        var match = Regex.Match(response, "\\{\"name\":\"" + name + "\"[^\\[]*\\[[^\\]]*\\][^\\[]*(\\[[^\\]]*\\])");
        Assert.True(match.Success, $"no output {name} in {response}");
        return match.Groups[1].Value;
    }
}
