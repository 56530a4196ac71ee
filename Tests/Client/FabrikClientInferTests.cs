using System.Globalization;
using System.Text.Json.Nodes;
using Fabrik.Client;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>
/// Inference through <see cref="FabrikClient"/> over HTTP JSON, HTTP binary and gRPC against the
/// real server and ONNX Runtime in memory. Expected values come from the samples that
/// models/generate.py computed in Python, or are computed here from the inputs.
/// </summary>
public sealed class FabrikClientInferTests(ClientHost host) : IClassFixture<ClientHost>
{
    private static readonly int[] Counting = [.. Enumerable.Range(0, 16)];
    private static readonly int[] Twos = [.. Enumerable.Repeat(2, 16)];

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_Simple_ReturnsSumAndDifference(ClientMode mode)
    {
        WireObserver? wire = null;
        using var client = host.Client(mode, options => options.HttpHandler = wire = new WireObserver(options.HttpHandler!));
        var request = new InferRequest("simple") { Id = "simple-1" }
            .WithInput(InferInput.Create("INPUT0", Counting, 1, 16))
            .WithInput(InferInput.Create("INPUT1", Twos, 1, 16));
        using var result = await client.InferAsync(request);
        Assert.Equal("simple", result.ModelName);
        Assert.Equal("1", result.ModelVersion);
        Assert.Equal("simple-1", result.Id);
        Assert.Equal(["OUTPUT0", "OUTPUT1"], result.Outputs.Select(output => output.Name));
        Assert.Equal(Counting.Select(i => i + 2), result.GetOutput<int>("OUTPUT0").ToArray());
        Assert.Equal(Counting.Select(i => i - 2), result.GetOutput("OUTPUT1").ToArray<int>());
        Assert.Equal([1L, 16L], result.GetOutput("OUTPUT1").Shape);
        Assert.Equal(TensorDataType.Int32, result.GetOutput("OUTPUT1").Datatype);
        if (mode != ClientMode.Grpc)
        {
            // Plain JSON both ways, or the binary extension both ways.
            var exchange = Assert.Single(wire!.Exchanges);
            var binary = mode == ClientMode.HttpBinary;
            Assert.Equal((binary ? "application/octet-stream" : "application/json", binary, binary), exchange);
        }
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_WithRequestedOutputsAndParameters_ReturnsOnlyThoseOutputs(ClientMode mode)
    {
        using var client = host.Client(mode);
        // A batch of two rows; the parameters are Triton's scheduling and sequence ones and a custom one.
        int[] rows = [.. Counting, .. Counting.Select(i => 100 * i)];
        int[] twos = [.. Twos, .. Twos];
        var request = new InferRequest("simple")
        {
            Priority = 1,
            TimeoutMicroseconds = 5_000_000,
            SequenceId = 42UL,
            SequenceStart = true,
            Parameters = { ["tenant"] = "team-a", ["weight"] = 0.5 },
        }
            .WithInput(InferInput.Create("INPUT0", rows.AsMemory(), 2, 16))
            .WithInput(InferInput.Create("INPUT1", twos, 2, 16))
            .WithOutput("OUTPUT1", binary: mode != ClientMode.HttpJson);
        using var result = await client.InferAsync(request);
        var output = Assert.Single(result.Outputs);
        Assert.Equal("OUTPUT1", output.Name);
        Assert.Equal([2L, 16L], output.Shape);
        Assert.Equal(rows.Select(value => value - 2), output.AsSpan<int>().ToArray());
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_Identity_RoundTripsAll14DatatypesAsThePythonSampleSays(ClientMode mode)
    {
        var sample = Samples.Sample("identity", 0);
        var request = new InferRequest("identity");
        foreach (var input in sample["inputs"]!.AsArray())
        {
            request.Inputs.Add(Input((string)input!["name"]!, (string)input["datatype"]!, input["data"]!.AsArray()));
        }
        using var client = host.Client(mode);
        using var result = await client.InferAsync(request);

        Assert.Equal(14, result.Outputs.Count);
        foreach (var expected in sample["outputs"]!.AsArray())
        {
            var output = result.GetOutput((string)expected!["name"]!);
            Assert.Equal((string)expected["datatype"]!, output.Datatype.WireName());
            Assert.Equal([3L], output.Shape);
            AssertElements(output, expected["data"]!.AsArray());
        }
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_NonFiniteFloats_RoundTrip(ClientMode mode)
    {
        using var client = host.Client(mode);
        var request = IdentityRequest();
        request.Inputs[TypeIndex("FP16")] = InferInput.Create("INPUT_FP16", new[] { Half.NaN, Half.PositiveInfinity, Half.NegativeInfinity }, 3);
        request.Inputs[TypeIndex("BF16")] = InferInput.CreateBFloat16("INPUT_BF16", [float.NaN, float.PositiveInfinity, float.NegativeInfinity], 3);
        request.Inputs[TypeIndex("FP32")] = InferInput.Create("INPUT_FP32", new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity }, 3);
        request.Inputs[TypeIndex("FP64")] = InferInput.Create("INPUT_FP64", new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity }, 3);
        using var result = await client.InferAsync(request);
        foreach (var type in new[] { "FP16", "BF16", "FP32" })
        {
            var values = result.GetOutput($"OUTPUT_{type}").ToSingles();
            Assert.True(float.IsNaN(values[0]), $"{type}: {values[0]}");
            Assert.Equal([float.PositiveInfinity, float.NegativeInfinity], values[1..]);
        }
        var doubles = result.GetOutput<double>("OUTPUT_FP64").ToArray();
        Assert.True(double.IsNaN(doubles[0]));
        Assert.Equal([double.PositiveInfinity, double.NegativeInfinity], doubles[1..]);
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_RawBytesThatAreNotUtf8_RoundTripAsBytes(ClientMode mode)
    {
        using var client = host.Client(mode);
        byte[][] elements = [[0xFF, 0x00, 0xFE], [], [0xC3, 0x28]];
        var request = IdentityRequest();
        request.Inputs[TypeIndex("BYTES")] = InferInput.CreateBytes("INPUT_BYTES", [.. elements.Select(element => new ReadOnlyMemory<byte>(element))], 3);
        // JSON cannot carry these bytes either way: over HTTP JSON the input goes as binary data
        // anyway, and the output is asked for as binary.
        request.WithOutput("OUTPUT_BYTES", binary: true);
        using var result = await client.InferAsync(request);
        var output = Assert.Single(result.Outputs);
        Assert.Equal(elements, output.ToByteStrings().Select(element => element.ToArray()));
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_UnknownModel_ThrowsNotFoundWithTheServersMessageAndARequestId(ClientMode mode)
    {
        using var client = host.Client(mode);
        var request = new InferRequest("no_such_model") { Id = "lost-1" }.WithInput(InferInput.Create("INPUT0", Counting, 1, 16));
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.InferAsync(request));
        Assert.Equal(FabrikErrorKind.NotFound, error.Kind);
        Assert.Equal("Request for unknown model: 'no_such_model' is not found", error.ServerMessage);
        Assert.Contains(error.ServerMessage!, error.Message, StringComparison.Ordinal);
        if (mode == ClientMode.Grpc)
        {
            Assert.Equal(Grpc.Core.StatusCode.NotFound, error.GrpcStatus);
            Assert.Equal("lost-1", error.RequestId);
        }
        else
        {
            Assert.Equal(404, error.HttpStatus);
            // The server's own id for the request, which its log uses.
            Assert.False(string.IsNullOrEmpty(error.RequestId));
            Assert.NotEqual("lost-1", error.RequestId);
        }
        Assert.False(error.IsTransient);
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_WrongElementCount_ThrowsInvalidArgumentNamingTheInput(ClientMode mode)
    {
        using var client = host.Client(mode);
        var request = new InferRequest("simple")
            .WithInput(InferInput.Create("INPUT0", Counting[..15], 1, 15))
            .WithInput(InferInput.Create("INPUT1", Twos, 1, 16));
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.InferAsync(request));
        Assert.Equal(FabrikErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("INPUT0", error.ServerMessage, StringComparison.Ordinal);
        // The server is still serving.
        Assert.True(await client.IsModelReadyAsync("simple"));
    }

    [Fact]
    public async Task Infer_AlreadyCancelled_ThrowsOperationCanceled()
    {
        using var client = host.Client(ClientMode.HttpBinary);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var request = new InferRequest("simple").WithInput(InferInput.Create("INPUT0", Counting, 1, 16)).WithInput(InferInput.Create("INPUT1", Twos, 1, 16));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.InferAsync(request, cancelled.Token));
    }

    [Fact]
    public void Inputs_ThatDoNotMatchTheirShape_AreRefusedWhenBuilt()
    {
        var mismatch = Assert.Throws<ArgumentException>(() => InferInput.Create("X", new float[5], 2, 3));
        Assert.Contains("holds 6 elements but 5 were given", mismatch.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => InferInput.Create("X", new float[1], -1));
        Assert.Throws<ArgumentException>(() => InferInput.Create("X", new byte[1], int.MaxValue, 4));
        Assert.Throws<ArgumentException>(() => InferInput.CreateStrings("X", ["a", "b"], 3));
        Assert.Throws<ArgumentException>(() => TensorDataTypes.Of<decimal>());
    }

    /// <summary>A request with every identity input filled from the sample.</summary>
    private static InferRequest IdentityRequest()
    {
        var request = new InferRequest("identity");
        foreach (var input in Samples.Sample("identity", 0)["inputs"]!.AsArray())
        {
            request.Inputs.Add(Input((string)input!["name"]!, (string)input["datatype"]!, input["data"]!.AsArray()));
        }
        return request;
    }

    private static int TypeIndex(string datatype) =>
        Array.IndexOf(["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64", "BYTES"], datatype);

    /// <summary>Builds a typed input from JSON values, independently of the client's own JSON code.</summary>
    private static InferInput Input(string name, string datatype, JsonArray data)
    {
        var n = data.Count;
        return datatype switch
        {
            "BOOL" => InferInput.Create(name, data.Select(v => (bool)v!).ToArray(), n),
            "UINT8" => InferInput.Create(name, data.Select(v => (byte)v!).ToArray(), n),
            "UINT16" => InferInput.Create(name, data.Select(v => (ushort)v!).ToArray(), n),
            "UINT32" => InferInput.Create(name, data.Select(v => (uint)v!).ToArray(), n),
            "UINT64" => InferInput.Create(name, data.Select(v => (ulong)v!).ToArray(), n),
            "INT8" => InferInput.Create(name, data.Select(v => (sbyte)v!).ToArray(), n),
            "INT16" => InferInput.Create(name, data.Select(v => (short)v!).ToArray(), n),
            "INT32" => InferInput.Create(name, data.Select(v => (int)v!).ToArray(), n),
            "INT64" => InferInput.Create(name, data.Select(v => (long)v!).ToArray(), n),
            "FP16" => InferInput.Create(name, data.Select(v => (Half)(double)v!).ToArray(), n),
            "BF16" => InferInput.CreateBFloat16(name, data.Select(v => (float)(double)v!).ToArray(), n),
            "FP32" => InferInput.Create(name, data.Select(v => (float)(double)v!).ToArray(), n),
            "FP64" => InferInput.Create(name, data.Select(v => (double)v!).ToArray(), n),
            "BYTES" => InferInput.CreateStrings(name, [.. data.Select(v => (string)v!)], n),
            _ => throw new ArgumentException(datatype),
        };
    }

    /// <summary>Compares an output with the sample's JSON values exactly (the identity model copies).</summary>
    private static void AssertElements(InferOutput output, JsonArray expected)
    {
        string[] actual = output.Datatype switch
        {
            TensorDataType.Bool => [.. output.AsSpan<bool>().ToArray().Select(v => v ? "true" : "false")],
            TensorDataType.UInt8 => Text(output.AsSpan<byte>().ToArray()),
            TensorDataType.UInt16 => Text(output.AsSpan<ushort>().ToArray()),
            TensorDataType.UInt32 => Text(output.AsSpan<uint>().ToArray()),
            TensorDataType.UInt64 => Text(output.AsSpan<ulong>().ToArray()),
            TensorDataType.Int8 => Text(output.AsSpan<sbyte>().ToArray()),
            TensorDataType.Int16 => Text(output.AsSpan<short>().ToArray()),
            TensorDataType.Int32 => Text(output.AsSpan<int>().ToArray()),
            TensorDataType.Int64 => Text(output.AsSpan<long>().ToArray()),
            TensorDataType.Fp16 or TensorDataType.Bf16 or TensorDataType.Fp32 => Text(output.ToSingles().Select(v => (double)v).ToArray()),
            TensorDataType.Fp64 => Text(output.AsSpan<double>().ToArray()),
            _ => output.ToStrings(),
        };
        string[] wanted = output.Datatype switch
        {
            TensorDataType.Bool => [.. expected.Select(v => (bool)v! ? "true" : "false")],
            TensorDataType.UInt64 => Text(expected.Select(v => (ulong)v!).ToArray()),
            TensorDataType.Int64 => Text(expected.Select(v => (long)v!).ToArray()),
            TensorDataType.Fp16 or TensorDataType.Bf16 or TensorDataType.Fp32 => Text(expected.Select(v => (double)(float)(double)v!).ToArray()),
            TensorDataType.Fp64 => Text(expected.Select(v => (double)v!).ToArray()),
            TensorDataType.Bytes => [.. expected.Select(v => (string)v!)],
            _ => Text(expected.Select(v => (long)v!).ToArray()),
        };
        Assert.Equal(wanted, actual);
    }

    private static string[] Text<T>(T[] values) where T : IFormattable =>
        [.. values.Select(value => value.ToString(null, CultureInfo.InvariantCulture))];
}
