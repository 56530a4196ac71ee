using System.Net;
using Fabrik.Client;
using Fabrik.Client.Protos;
using Google.Protobuf;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>Answers no healthy server sends, from a stand-in handler: each must become a
/// <see cref="FabrikException"/> that says what was wrong, never an index or cast error.</summary>
public sealed class FabrikClientResponseTests
{
    private static readonly InferRequest Request = new InferRequest("m").WithInput(InferInput.Create("X", new float[] { 1, 2 }, 2));

    public static TheoryData<string, string> MalformedJson => new()
    {
        { "<html>bad gateway</html>", "malformed" },
        { """{"model_name":"m","outputs":[{"name":"Y","datatype":"FP32","shape":[2],"data":[1.0]}]}""", "'Y': its shape gives 2 elements but 'data' holds 1" },
        { """{"model_name":"m","outputs":[{"name":"Y","datatype":"FP32","shape":[1],"data":[1.0, 2.0]}]}""", "'Y': 'data' holds more than the 1 elements" },
        { """{"model_name":"m","outputs":[{"name":"Y","datatype":"FP128","shape":[1],"data":[1]}]}""", "datatype 'FP128', which the protocol does not define" },
        { """{"model_name":"m","outputs":[{"name":"Y","datatype":"INT8","shape":[1],"data":[300]}]}""", "element 0 of 'data' is not a valid INT8 value" },
        { """{"model_name":"m","outputs":[{"name":"Y","datatype":"INT32","shape":[-1],"data":[1]}]}""", "shape must hold non-negative integers" },
        { """{"model_name":"m","outputs":[{"name":"Y","datatype":"INT32","shape":[1000000000],"data":[1]}]}""", "more than its" },
        { """{"model_name":"m","outputs":[{"datatype":"INT32","shape":[1],"data":[1]}]}""", "outputs[0] lacks 'name'" },
        { """{"model_name":"m","outputs":[{"name":"Y","datatype":"INT32","shape":[1]}]}""", "has neither 'data' nor parameters.binary_data_size" },
        { """{"model_name":"m","outputs":{}}""", "'outputs' must be an array" },
        { """[1,2,3]""", "not a JSON object" },
    };

    [Theory]
    [MemberData(nameof(MalformedJson))]
    public async Task Infer_MalformedJsonAnswer_ThrowsInvalidResponseNamingTheProblem(string body, string problem)
    {
        using var client = Client(new ScriptedHandler((_, _) => ScriptedHandler.Json(body)));
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.InferAsync(Request));
        Assert.Equal(FabrikErrorKind.InvalidResponse, error.Kind);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, int, long?, string> MalformedBinary => new()
    {
        { """{"outputs":[{"name":"Y","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}""", 4, null, "binary_data_size 8 but only 4 bytes" },
        { """{"outputs":[{"name":"Y","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":4}}]}""", 4, null, "needs 8 bytes but 4 came" },
        { """{"outputs":[{"name":"Y","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}""", 12, null, "8 bytes of binary data follow" },
        { """{"outputs":[{"name":"Y","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]}""", 4, 100_000, "Inference-Header-Content-Length is 100000" },
        { """{"outputs":[{"name":"Y","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":4}}]}""", 4, null, "length prefix that runs past" },
    };

    [Theory]
    [MemberData(nameof(MalformedBinary))]
    public async Task Infer_MalformedBinaryAnswer_ThrowsInvalidResponseNamingTheProblem(string header, int binaryLength, long? declared, string problem)
    {
        var binary = new byte[binaryLength];
        binary[0] = 0x10; // a BYTES length prefix of 16, past the end of 4 bytes
        using var client = Client(new ScriptedHandler((_, _) => ScriptedHandler.Binary(header, binary, declared)));
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.InferAsync(Request));
        Assert.Equal(FabrikErrorKind.InvalidResponse, error.Kind);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infer_BareNonFiniteLiterals_AreRead()
    {
        const string body = """{"model_name":"m","model_version":"3","outputs":[{"name":"Y","datatype":"FP32","shape":[4],"data":[NaN, Infinity, -Infinity, 2.5]}]}""";
        using var client = Client(new ScriptedHandler((_, _) => ScriptedHandler.Json(body)));
        using var result = await client.InferAsync(Request);
        var values = result.GetOutput<float>("Y").ToArray();
        Assert.True(float.IsNaN(values[0]));
        Assert.Equal([float.PositiveInfinity, float.NegativeInfinity, 2.5f], values[1..]);
        Assert.Equal("3", result.ModelVersion);
    }

    [Fact]
    public async Task Infer_ErrorAnswerThatIsNotJson_KeepsStatusAndShortText()
    {
        using var client = Client(new ScriptedHandler((_, _) => new HttpResponseMessage(HttpStatusCode.BadGateway) { Content = new StringContent("upstream connect error") }));
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.InferAsync(Request));
        Assert.Equal(FabrikErrorKind.Unavailable, error.Kind);
        Assert.Equal(502, error.HttpStatus);
        Assert.Equal("upstream connect error", error.ServerMessage);
    }

    [Fact]
    public async Task Metadata_ThatLacksItsName_ThrowsInvalidResponse()
    {
        using var client = Client(new ScriptedHandler((_, _) => ScriptedHandler.Json("""{"versions":["1"],"inputs":[],"outputs":[]}""")));
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.GetModelMetadataAsync("m"));
        Assert.Equal(FabrikErrorKind.InvalidResponse, error.Kind);
        Assert.Contains("'name' is missing", error.Message, StringComparison.Ordinal);
        var config = await Assert.ThrowsAsync<FabrikException>(() => Client(new ScriptedHandler((_, _) => ScriptedHandler.Json("""{"max_batch_size":"eight"}"""))).GetModelConfigAsync("m"));
        Assert.Equal(FabrikErrorKind.InvalidResponse, config.Kind);
        Assert.Contains("model configuration does not parse", config.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> MalformedGrpc => new()
    {
        { "raw-count", "1 outputs but 2 raw_output_contents" },
        { "raw-size", "needs 8 bytes but 3 came" },
        { "datatype", "datatype 'COMPLEX64'" },
        { "typed-range", "element 0 (300) is out of range for INT8" },
    };

    [Theory]
    [MemberData(nameof(MalformedGrpc))]
    public async Task Infer_MalformedGrpcAnswer_ThrowsInvalidResponseNamingTheProblem(string flaw, string problem)
    {
        var response = new ModelInferResponse { ModelName = "m", ModelVersion = "1" };
        var output = new ModelInferResponse.Types.InferOutputTensor { Name = "Y", Datatype = "FP32", Shape = { 2 } };
        response.Outputs.Add(output);
        switch (flaw)
        {
            case "raw-count":
                response.RawOutputContents.Add(ByteString.CopyFrom(new byte[8]));
                response.RawOutputContents.Add(ByteString.CopyFrom(new byte[8]));
                break;
            case "raw-size":
                response.RawOutputContents.Add(ByteString.CopyFrom(new byte[3]));
                break;
            case "datatype":
                output.Datatype = "COMPLEX64";
                response.RawOutputContents.Add(ByteString.CopyFrom(new byte[8]));
                break;
            default:
                output.Datatype = "INT8";
                output.Shape[0] = 1;
                output.Contents = new InferTensorContents { IntContents = { 300 } };
                break;
        }
        using var client = Client(new ScriptedHandler((_, _) => ScriptedHandler.Grpc(response)), FabrikTransport.Grpc);
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.InferAsync(Request));
        Assert.Equal(FabrikErrorKind.InvalidResponse, error.Kind);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infer_GrpcTypedContents_AreReadLikeRawOnes()
    {
        var response = new ModelInferResponse { ModelName = "m", ModelVersion = "1", Id = "typed" };
        response.Outputs.Add(new ModelInferResponse.Types.InferOutputTensor { Name = "U16", Datatype = "UINT16", Shape = { 2 }, Contents = new InferTensorContents { UintContents = { 65535, 7 } } });
        response.Outputs.Add(new ModelInferResponse.Types.InferOutputTensor { Name = "S", Datatype = "BYTES", Shape = { 2 }, Contents = new InferTensorContents { BytesContents = { ByteString.CopyFromUtf8("ab"), ByteString.Empty } } });
        response.Outputs.Add(new ModelInferResponse.Types.InferOutputTensor { Name = "B", Datatype = "BOOL", Shape = { 1 }, Contents = new InferTensorContents { BoolContents = { true } } });
        using var client = Client(new ScriptedHandler((_, _) => ScriptedHandler.Grpc(response)), FabrikTransport.Grpc);
        using var result = await client.InferAsync(Request);
        Assert.Equal([(ushort)65535, (ushort)7], result.GetOutput<ushort>("U16").ToArray());
        Assert.Equal(["ab", ""], result.GetStrings("S"));
        Assert.Equal([true], result.GetOutput<bool>("B").ToArray());
        Assert.Equal("typed", result.Id);
        Assert.Throws<InvalidOperationException>(() => result.GetOutput("U16").AsSpan<float>().Length);
        Assert.Throws<KeyNotFoundException>(() => result.GetOutput("Z"));
    }

    private static FabrikClient Client(HttpMessageHandler handler, FabrikTransport transport = FabrikTransport.Http) => new(new FabrikClientOptions
    {
        Transport = transport,
        HttpAddress = new Uri("http://stand-in/"),
        GrpcAddress = new Uri("http://stand-in/"),
        HttpHandler = handler,
    });
}
