using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Errors;
using Fabrik.Protocol.Grpc;
using Fabrik.Protocol.Triton;
using Fabrik.Protocol.Http;
using Fabrik.Tensors;
using Fabrik.Tests.Support;
using Google.Protobuf;
using Grpc.Core;
using Xunit;
using DataType = Fabrik.Tensors.DataType;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// Declared shapes whose sizes overflow, and declared sizes the body does not carry: each decoder
/// must refuse them by name before it rents memory, and nothing of the kind may reach a backend.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class SizeValidationTests(ServerFixture fixture)
{
    // 2^62 + 1 elements: times 4 bytes it wraps around to 4 in 64-bit arithmetic.
    private const long WrappingCount = (1L << 62) + 1;

    [Theory]
    [InlineData(new long[] { (1L << 62) + 1 }, "Fp32", "TooLarge")]   // its byte size would wrap to 4
    [InlineData(new long[] { 1L << 31, 1L << 31, 1L << 31 }, "UInt8", "Overflow")]
    [InlineData(new long[] { 1L << 28, 2 }, "Fp32", "TooLarge")]
    [InlineData(new long[] { (1L << 28) + 1 }, "Bytes", "TooLarge")]        // 4-byte prefixes alone exceed 1 GiB
    [InlineData(new long[] { 3, -1 }, "Int8", "NegativeDimension")]
    public void TryCompute_RefusesShapesThatOverflowOrExceedThePool(long[] shape, string type, string expected)
    {
        Assert.Equal(expected, TensorSize.TryCompute(shape, Enum.Parse<DataType>(type), out _, out var bytes).ToString());
        Assert.Equal(0, bytes);
    }

    [Theory]
    [InlineData(new long[] { 2, 3, 4 }, "Fp64", 24, 192)]
    [InlineData(new long[] { long.MaxValue, 0 }, "Fp32", 0, 0)]
    [InlineData(new long[] { }, "Int16", 1, 2)]
    [InlineData(new long[] { 5 }, "Bytes", 5, 20)]
    [InlineData(new long[] { 1L << 28 }, "Fp32", 1L << 28, 1L << 30)]
    public void TryCompute_ValidShapes_GiveCountAndBytes(long[] shape, string type, long count, long bytes)
    {
        Assert.Equal(TensorSizeError.None, TensorSize.TryCompute(shape, Enum.Parse<DataType>(type), out var actualCount, out var actualBytes));
        Assert.Equal((count, bytes), (actualCount, actualBytes));
    }

    [Fact]
    public async Task GrpcRaw_ShapeWhoseByteSizeWraps_IsInvalidArgumentNamingTheInput()
    {
        // Every identity input is valid except INPUT_FP32, whose 4 bytes match 2^62+1 elements
        // only when the product wraps.
        var request = IdentityRawRequest();
        var index = request.Inputs.ToList().FindIndex(input => input.Name == "INPUT_FP32");
        request.Inputs[index].Shape.Clear();
        request.Inputs[index].Shape.Add(WrappingCount);
        request.RawInputContents[index] = ByteString.CopyFrom(new byte[4]);

        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Grpc.ModelInferAsync(request).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("input 'INPUT_FP32'", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("tensor limit", error.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("Tensor storage", error.Status.Detail, StringComparison.Ordinal);
        // The unmodified request still runs.
        Assert.Equal(14, (await fixture.Grpc.ModelInferAsync(IdentityRawRequest())).Outputs.Count);
    }

    [Fact]
    public async Task HttpBinary_ShapeWhoseByteSizeWraps_Is400NamingTheInput()
    {
        var header = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "INPUT_FP32", ["datatype"] = "FP32", ["shape"] = new JsonArray(WrappingCount),
                ["parameters"] = new JsonObject { ["binary_data_size"] = 4 },
            }),
        }.ToJsonString());
        var model = fixture.Server.Models.Resolve("identity", null);
        var body = new ReadOnlySequence<byte>([.. header, 0, 0, 0, 0]);
        var jsonLength = body.Length - 4;

        var error = Assert.Throws<InferenceException>(() => JsonInferenceRequestReader.Read(body, jsonLength, model, fixture.Server.TensorPool, default));

        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("input 'INPUT_FP32'", error.Message, StringComparison.Ordinal);
        Assert.Contains("tensor limit", error.Message, StringComparison.Ordinal);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/identity/infer") { Content = new ByteArrayContent(body.ToArray()) };
        request.Headers.TryAddWithoutValidation("Inference-Header-Content-Length", jsonLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await fixture.Client.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("tensor limit", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public void GrpcTyped_CountShortOfTheShape_IsRefusedBeforeRentingTheShapesSize()
    {
        // 50-odd bytes on the wire that declare 1 GiB of FP32.
        var model = fixture.Server.Models.Resolve("identity", null);
        var message = new ModelInferRequest { ModelName = "identity" };
        var tensor = new ModelInferRequest.Types.InferInputTensor { Name = "INPUT_FP32", Datatype = "FP32", Contents = new InferTensorContents() };
        tensor.Shape.Add(1L << 28);
        tensor.Contents.Fp32Contents.Add(1f);
        message.Inputs.Add(tensor);
        var pool = fixture.Server.TensorPool;
        var before = pool.AllocatedBytes;

        var error = Assert.Throws<InferenceException>(() => GrpcTensorCodec.Decode(message, model, pool, default));

        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains($"input 'INPUT_FP32': expected {1L << 28} elements (from its shape), got 1", error.Message, StringComparison.Ordinal);
        Assert.True(pool.AllocatedBytes - before < 1 << 20, $"the pool allocated {pool.AllocatedBytes - before} bytes for a refused request");
    }

    [Fact]
    public void Json_CountShortOfTheShape_IsRefusedBeforeRentingTheShapesSize()
    {
        // A one-element FP64 array padded with whitespace to 1 MB, declaring 1,000,000 elements:
        // the body is large enough that a count-versus-body bound alone would let it rent 8 MB.
        var model = fixture.Server.Models.Resolve("identity", null);
        var json = "{\"inputs\":[{\"name\":\"INPUT_FP64\",\"datatype\":\"FP64\",\"shape\":[1000000],\"data\":[1.5" + new string(' ', 1_000_000) + "]}]}";
        var pool = fixture.Server.TensorPool;
        var before = pool.AllocatedBytes;

        var error = Assert.Throws<InferenceException>(() => JsonInferenceRequestReader.Read(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)), null, model, pool, default));

        Assert.Contains("input 'INPUT_FP64': expected 1000000 elements (from its shape), got 1", error.Message, StringComparison.Ordinal);
        Assert.True(pool.AllocatedBytes - before < 1 << 20, $"the pool allocated {pool.AllocatedBytes - before} bytes for a refused request");
    }

    [Fact]
    public void Json_ShapeOverThePoolLimit_IsRefusedNamingTheLimit()
    {
        var model = fixture.Server.Models.Resolve("identity", null);
        var json = "{\"inputs\":[{\"name\":\"INPUT_INT64\",\"datatype\":\"INT64\",\"shape\":[4294967296],\"data\":[1]}]}";

        var error = Assert.Throws<InferenceException>(() => JsonInferenceRequestReader.Read(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)), null, model, fixture.Server.TensorPool, default));

        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("input 'INPUT_INT64'", error.Message, StringComparison.Ordinal);
        Assert.Contains("tensor limit", error.Message, StringComparison.Ordinal);
    }

    private static ModelInferRequest IdentityRawRequest() => GrpcSamples.RawRequest("identity", Samples.Sample("identity", 0));
}
