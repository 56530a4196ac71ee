using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>The binary tensor data extension over HTTP, in both directions and in raw mode.</summary>
[Collection(ServerCollection.Name)]
public sealed class HttpBinaryTests(ServerFixture fixture)
{
    private const string HeaderName = "Inference-Header-Content-Length";

    private readonly HttpClient _client = fixture.Client;

    [Fact]
    public async Task Infer_EveryDatatypeInBinary_ReturnsTheSameBytes()
    {
        var sample = Samples.Sample("identity", 0);
        var inputs = new JsonArray();
        var parts = new List<byte[]>();
        foreach (var input in sample["inputs"]!.AsArray())
        {
            var packed = BinaryTensors.Pack((string)input!["datatype"]!, input["data"]!);
            parts.Add(packed);
            inputs.Add(new JsonObject
            {
                ["name"] = (string)input["name"]!,
                ["datatype"] = (string)input["datatype"]!,
                ["shape"] = input["shape"]!.DeepClone(),
                ["parameters"] = new JsonObject { ["binary_data_size"] = packed.Length },
            });
        }
        var header = new JsonObject { ["inputs"] = inputs, ["parameters"] = new JsonObject { ["binary_data_output"] = true } };

        var (status, json, binary) = await PostBinaryAsync("/v2/models/identity/infer", BinaryTensors.Body(header, [.. parts]));

        Assert.Equal(HttpStatusCode.OK, status);
        var offset = 0;
        var outputs = json!["outputs"]!.AsArray();
        Assert.Equal(14, outputs.Count);
        for (var i = 0; i < outputs.Count; i++)
        {
            var size = (int)outputs[i]!["parameters"]!["binary_data_size"]!;
            Assert.Equal(((string)sample["inputs"]![i]!["name"]!).Replace("INPUT_", "OUTPUT_", StringComparison.Ordinal), (string)outputs[i]!["name"]!);
            Assert.Null(outputs[i]!["data"]);
            Assert.Equal(parts[i], binary.AsSpan(offset, size).ToArray());
            offset += size;
        }
        Assert.Equal(binary.Length, offset);
    }

    [Fact]
    public async Task Infer_MixedBinaryAndJson_ReturnsStoredOutputs()
    {
        var sample = Samples.Sample("simple", 1);
        var input0 = sample["inputs"]![0]!;
        var input1 = sample["inputs"]![1]!.DeepClone().AsObject();
        var packed = BinaryTensors.Pack("INT32", input0["data"]!);
        var header = new JsonObject
        {
            ["inputs"] = new JsonArray(
                new JsonObject { ["name"] = "INPUT0", ["datatype"] = "INT32", ["shape"] = input0["shape"]!.DeepClone(), ["parameters"] = new JsonObject { ["binary_data_size"] = packed.Length } },
                input1),
            ["outputs"] = new JsonArray(
                new JsonObject { ["name"] = "OUTPUT0", ["parameters"] = new JsonObject { ["binary_data"] = true } },
                new JsonObject { ["name"] = "OUTPUT1" }),
        };

        var (status, json, binary) = await PostBinaryAsync("/v2/models/simple/infer", BinaryTensors.Body(header, packed));

        Assert.Equal(HttpStatusCode.OK, status);
        var expected = sample["outputs"]!.AsArray();
        Assert.Equal(BinaryTensors.Pack("INT32", expected[0]!["data"]!), binary);
        TensorAssert.OutputsMatch(new JsonArray(expected[1]!.DeepClone()), new JsonArray(json!["outputs"]![1]!.DeepClone()), 0);
    }

    [Fact]
    public async Task Infer_RawMode_WholeBodyIsTheSingleInput()
    {
        var sample = Samples.Sample("mlp", 2);
        var body = BinaryTensors.Pack("FP32", sample["inputs"]![0]!["data"]!);

        var (status, json, binary) = await PostBinaryAsync("/v2/models/mlp/infer", (body, 0));

        Assert.Equal(HttpStatusCode.OK, status);
        var output = json!["outputs"]![0]!;
        var expected = sample["outputs"]![0]!;
        Assert.Equal(TensorAssert.Longs(expected["shape"]!), TensorAssert.Longs(output["shape"]!));
        var actual = BinaryTensors.Floats(binary);
        var expectedValues = TensorAssert.Flatten(expected["data"]!).Select(v => v.GetValue<double>()).ToArray();
        Assert.Equal(expectedValues.Length, actual.Length);
        for (var i = 0; i < actual.Length; i++)
        {
            Assert.InRange(Math.Abs(actual[i] - expectedValues[i]), 0, 1e-5);
        }
    }

    [Fact]
    public async Task Infer_LargeBinaryTensor_RoundTripsBitExactly()
    {
        // 16 MB of FP64: far past Kestrel's 1 MB request buffer, so the body arrives in many reads.
        const int count = 2 * 1024 * 1024;
        var data = new byte[count * 8];
        new Random(7).NextBytes(data);
        for (var i = 0; i < count; i++)
        {
            // Keep every value a finite double; NaN payloads would survive too, but be explicit.
            data[(i * 8) + 7] &= 0x3F;
        }
        var inputs = new JsonArray();
        var parts = new List<byte[]>();
        foreach (var input in Samples.Sample("identity", 0)["inputs"]!.AsArray())
        {
            var datatype = (string)input!["datatype"]!;
            var packed = datatype == "FP64" ? data : BinaryTensors.Pack(datatype, input["data"]!);
            parts.Add(packed);
            inputs.Add(new JsonObject
            {
                ["name"] = (string)input["name"]!,
                ["datatype"] = datatype,
                ["shape"] = new JsonArray(datatype == "FP64" ? count : (long)input["shape"]![0]!),
                ["parameters"] = new JsonObject { ["binary_data_size"] = packed.Length },
            });
        }
        var header = new JsonObject
        {
            ["inputs"] = inputs,
            ["outputs"] = new JsonArray(new JsonObject { ["name"] = "OUTPUT_FP64", ["parameters"] = new JsonObject { ["binary_data"] = true } }),
        };

        var (status, _, binary) = await PostBinaryAsync("/v2/models/identity/infer", BinaryTensors.Body(header, [.. parts]));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(data.AsSpan().SequenceEqual(binary), "the FP64 output differs from the input");
    }

    public static TheoryData<string, string, int, string> BadBinaryRequests => new()
    {
        // name, header JSON, binary byte count, expected message
        { "size disagrees with shape", Header(60), 64, "binary_data_size is 60 bytes but shape [1,16] of INT32 needs 64" },
        { "truncated body", Header(64), 10, "only 10 bytes of binary data remain" },
        { "unused trailing bytes", Header(64), 80, "16 bytes of binary data that no input's binary_data_size accounts for" },
        { "negative size", Header(-1), 64, "binary_data_size of input 'INPUT0' must be a non-negative integer" },
        { "data and binary", Header(64).Replace("\"parameters\"", "\"data\":[1],\"parameters\"", StringComparison.Ordinal), 64, "has both 'data' and binary_data_size" },
    };

    [Theory]
    [MemberData(nameof(BadBinaryRequests))]
    public async Task Infer_BadBinaryRequest_Returns400NamingTheProblem(string caseName, string header, int binaryBytes, string message)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var (status, body, _) = await PostBinaryAsync("/v2/models/simple/infer", ([.. json, .. new byte[binaryBytes]], json.Length));

        Assert.True(status == HttpStatusCode.BadRequest, $"{caseName}: status {status}");
        Assert.Contains(message, (string)body!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infer_HeaderLengthBeyondBody_Returns400()
    {
        var (status, body, _) = await PostBinaryAsync("/v2/models/simple/infer", ("{}"u8.ToArray(), 1000));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("Inference-Header-Content-Length is 1000 but the body has only 2 bytes", (string)body!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infer_BadBytesLengthPrefix_Returns400()
    {
        byte[] element = [200, 0, 0, 0, (byte)'x'];
        var header = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject { ["name"] = "INPUT_BYTES", ["datatype"] = "BYTES", ["shape"] = new JsonArray(1), ["parameters"] = new JsonObject { ["binary_data_size"] = element.Length } }),
        };
        var (status, body, _) = await PostBinaryAsync("/v2/models/identity/infer", BinaryTensors.Body(header, element));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("BYTES element 0 declares 200 bytes but only 1 remain", (string)body!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infer_RawModeOnModelWithTwoInputs_Returns400()
    {
        var (status, body, _) = await PostBinaryAsync("/v2/models/simple/infer", (new byte[64], 0));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("needs a model with one input", (string)body!["error"]!, StringComparison.Ordinal);
    }

    private static string Header(int size) =>
        "{\"inputs\":[{\"name\":\"INPUT0\",\"datatype\":\"INT32\",\"shape\":[1,16],\"parameters\":{\"binary_data_size\":" + size + "}},"
        + "{\"name\":\"INPUT1\",\"datatype\":\"INT32\",\"shape\":[1,16],\"data\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}";

    /// <summary>Posts a binary-extension body and splits the answer into its JSON header and binary part.</summary>
    private async Task<(HttpStatusCode Status, JsonNode? Json, byte[] Binary)> PostBinaryAsync(string path, (byte[] Body, int HeaderLength) request)
    {
        using var content = new ByteArrayContent(request.Body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add(HeaderName, request.HeaderLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await _client.PostAsync(path, content);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var jsonLength = response.Headers.TryGetValues(HeaderName, out var values) ? int.Parse(values.Single(), System.Globalization.CultureInfo.InvariantCulture) : bytes.Length;
        var json = JsonNode.Parse(bytes.AsSpan(0, jsonLength));
        return (response.StatusCode, json, bytes[jsonLength..]);
    }
}
