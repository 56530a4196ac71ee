using System.Buffers;
using System.Text;
using Fabrik.Errors;
using Fabrik.Protocol;
using Fabrik.Protocol.Grpc;
using Fabrik.Protocol.Triton;
using Fabrik.Protocol.Http;
using Fabrik.Tensors;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>The decoders on their own, against a model loaded by the real server: what reaches the
/// scheduler besides the tensors.</summary>
[Collection(ServerCollection.Name)]
public sealed class RequestDecodingTests(ServerFixture fixture)
{
    private const string SimpleInputs = """
        "inputs":[{"name":"INPUT0","datatype":"INT32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},
                  {"name":"INPUT1","datatype":"INT32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]
        """;

    [Fact]
    public void JsonRequest_Parameters_ArePassedThroughTyped()
    {
        var model = fixture.Server.Models.Resolve("simple", null);
        var body = "{\"parameters\":{\"priority\":2,\"timeout\":18446744073709551615,\"tag\":\"x\",\"flag\":true,\"ratio\":0.5,\"binary_data_output\":false}," + SimpleInputs + "}";

        using var request = JsonInferenceRequestReader.Read(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), null, model, fixture.Server.TensorPool, default);

        Assert.Equal(2L, request.Parameters["priority"]);
        Assert.Equal(ulong.MaxValue, request.Parameters["timeout"]);
        Assert.Equal("x", request.Parameters["tag"]);
        Assert.Equal(true, request.Parameters["flag"]);
        Assert.Equal(0.5, request.Parameters["ratio"]);
        Assert.False(request.Parameters.ContainsKey("binary_data_output"));
    }

    [Fact]
    public void JsonRequest_NestedParameter_IsRejected()
    {
        var model = fixture.Server.Models.Resolve("simple", null);
        var body = "{\"parameters\":{\"priority\":{\"a\":1}}," + SimpleInputs + "}";
        var error = Assert.Throws<InferenceException>(() =>
            JsonInferenceRequestReader.Read(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), null, model, fixture.Server.TensorPool, default));
        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("parameter 'priority' must be a string, a number or a boolean", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonRequest_BytesElementNotUtf8_IsInvalidArgument_AndReturnsItsBuffer()
    {
        var model = fixture.Server.Models.Resolve("strings", null);
        // INPUT0's ninth element carries 0xFF, which no UTF-8 text contains; built as raw bytes
        // because no .NET string can hold it.
        var good = string.Join(",", Enumerable.Repeat("\"ab\"", 16));
        var prefix = Encoding.UTF8.GetBytes("{\"inputs\":[{\"name\":\"INPUT0\",\"datatype\":\"BYTES\",\"shape\":[1,16],\"data\":["
            + string.Join(",", Enumerable.Repeat("\"ab\"", 8)) + ",\"a");
        var suffix = Encoding.UTF8.GetBytes("b\"," + string.Join(",", Enumerable.Repeat("\"ab\"", 7))
            + "]},{\"name\":\"INPUT1\",\"datatype\":\"BYTES\",\"shape\":[1,16],\"data\":[" + good + "]}]}");
        byte[] body = [.. prefix, 0xFF, .. suffix];
        var pool = new TensorMemoryPool();

        var error = Assert.Throws<InferenceException>(() =>
            JsonInferenceRequestReader.Read(new ReadOnlySequence<byte>(body), null, model, pool, default));

        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Equal("input 'INPUT0': element 8 is not valid UTF-8 text", error.Message);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void GrpcRequest_Parameters_ArePassedThroughTyped()
    {
        var model = fixture.Server.Models.Resolve("simple", null);
        var message = new ModelInferRequest { ModelName = "simple" };
        message.Parameters["priority"] = new InferParameter { Int64Param = 3 };
        message.Parameters["tag"] = new InferParameter { StringParam = "y" };
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32", Contents = new InferTensorContents() };
            tensor.Shape.AddRange([1, 16]);
            tensor.Contents.IntContents.AddRange(Enumerable.Repeat(1, 16));
            message.Inputs.Add(tensor);
        }

        using var request = GrpcTensorCodec.Decode(message, model, fixture.Server.TensorPool, default);

        Assert.Equal(3L, request.Parameters["priority"]);
        Assert.Equal("y", request.Parameters["tag"]);
    }

    [Fact]
    public void GrpcRequest_TypedContentsOfEveryDatatype_DecodeToTheSampleBytes()
    {
        var model = fixture.Server.Models.Resolve("identity", null);
        var sample = Samples.Sample("identity", 0);
        var message = new ModelInferRequest { ModelName = "identity" };
        var expected = new Dictionary<string, byte[]>();
        foreach (var input in sample["inputs"]!.AsArray())
        {
            var datatype = (string)input!["datatype"]!;
            var name = (string)input["name"]!;
            var values = TensorAssert.Flatten(input["data"]!);
            var contents = new InferTensorContents();
            switch (datatype)
            {
                case "BOOL": contents.BoolContents.AddRange(values.Select(v => v.GetValue<bool>())); break;
                case "INT8" or "INT16" or "INT32": contents.IntContents.AddRange(values.Select(v => (int)v.GetValue<long>())); break;
                case "INT64": contents.Int64Contents.AddRange(values.Select(v => v.GetValue<long>())); break;
                case "UINT8" or "UINT16" or "UINT32": contents.UintContents.AddRange(values.Select(v => (uint)v.GetValue<ulong>())); break;
                case "UINT64": contents.Uint64Contents.AddRange(values.Select(v => v.GetValue<ulong>())); break;
                case "FP32": contents.Fp32Contents.AddRange(values.Select(v => (float)v.GetValue<double>())); break;
                case "FP64": contents.Fp64Contents.AddRange(values.Select(v => v.GetValue<double>())); break;
                case "BYTES": contents.BytesContents.AddRange(values.Select(v => Google.Protobuf.ByteString.CopyFromUtf8(v.GetValue<string>()))); break;
                default:
                    // FP16 and BF16 have no typed field; they travel raw (GrpcTests).
                    continue;
            }
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = datatype, Contents = contents };
            tensor.Shape.AddRange(TensorAssert.Longs(input["shape"]!));
            message.Inputs.Add(tensor);
            expected[name] = BinaryTensors.Pack(datatype, input["data"]!);
        }

        foreach (var tensor in message.Inputs)
        {
            var config = model.Config.Inputs[model.FindInput(tensor.Name)];
            using var buffer = GrpcTensorCodec.FromContents(config, tensor.Shape.ToArray(), tensor.Shape[0], tensor.Contents, fixture.Server.TensorPool);
            Assert.Equal(expected[tensor.Name], buffer.Bytes.ToArray());
        }
        Assert.Equal(12, expected.Count);
    }

    [Fact]
    public void ElementCount_OverflowingShape_IsRejected()
    {
        var error = Assert.Throws<InferenceException>(() => RequestValidation.Size([1L << 32, 1L << 32, 1L << 32], Fabrik.Tensors.DataType.Fp32, "x", out _));
        Assert.Contains("shape of input 'x' overflows", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, RequestValidation.Size([0, long.MaxValue], Fabrik.Tensors.DataType.Fp32, "x", out _));
    }
}
