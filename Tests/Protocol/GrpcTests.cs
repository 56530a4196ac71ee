using System.Buffers.Binary;
using System.Text;
using Fabrik.Protocol.Triton;
using Fabrik.Protocol.Grpc.HealthCheck;
using Fabrik.Tests.Support;
using Google.Protobuf;
using Grpc.Core;
using Xunit;
using static Fabrik.Tests.Support.ProtobufWire;

namespace Fabrik.Tests.Protocol;

/// <summary>inference.GRPCInferenceService and grpc.health.v1 on the real server's gRPC port.</summary>
[Collection(ServerCollection.Name)]
public sealed class GrpcTests(ServerFixture fixture)
{
    private readonly GRPCInferenceService.GRPCInferenceServiceClient _grpc = fixture.Grpc;

    [Fact]
    public async Task HealthAndMetadata_AnswerAsTritonDoes()
    {
        Assert.True((await _grpc.ServerLiveAsync(new ServerLiveRequest())).Live);
        Assert.True((await _grpc.ServerReadyAsync(new ServerReadyRequest())).Ready);
        Assert.True((await _grpc.ModelReadyAsync(new ModelReadyRequest { Name = "mlp_torch" })).Ready);
        Assert.False((await _grpc.ModelReadyAsync(new ModelReadyRequest { Name = "nonexistent" })).Ready);

        var server = await _grpc.ServerMetadataAsync(new ServerMetadataRequest());
        Assert.Equal("fabrik", server.Name);
        Assert.Contains("binary_tensor_data", server.Extensions);

        var metadata = await _grpc.ModelMetadataAsync(new ModelMetadataRequest { Name = "simple" });
        Assert.Equal("onnxruntime_onnx", metadata.Platform);
        Assert.Equal(["1"], metadata.Versions);
        Assert.Equal([-1L, 16L], metadata.Inputs[0].Shape);
        Assert.Equal("INT32", metadata.Outputs[1].Datatype);

        var health = new Health.HealthClient(fixture.GrpcChannel);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => health.CheckAsync(new HealthCheckRequest { Service = "nope" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Samples.All), MemberType = typeof(Samples))]
    public async Task ModelInfer_RawInputs_ReturnStoredOutputs(string model, int sampleIndex)
    {
        var sample = Samples.Sample(model, sampleIndex);
        var request = GrpcSamples.RawRequest(model, sample);
        request.Id = $"grpc-{sampleIndex}";

        var response = await _grpc.ModelInferAsync(request);

        Assert.Equal(model, response.ModelName);
        Assert.Equal($"grpc-{sampleIndex}", response.Id);
        var tolerance = (double)sample["tolerance"]!;
        foreach (var expected in sample["outputs"]!.AsArray())
        {
            var index = response.Outputs.ToList().FindIndex(output => output.Name == (string)expected!["name"]!);
            Assert.True(index >= 0, $"output {(string)expected!["name"]!} is missing");
            var output = response.Outputs[index];
            Assert.Equal((string)expected!["datatype"]!, output.Datatype);
            Assert.Equal(TensorAssert.Longs(expected["shape"]!), output.Shape);
            var expectedBytes = BinaryTensors.Pack(output.Datatype, expected["data"]!);
            var actualBytes = response.RawOutputContents[index].ToByteArray();
            if (tolerance == 0)
            {
                Assert.Equal(expectedBytes, actualBytes);
            }
            else
            {
                var e = BinaryTensors.Floats(expectedBytes);
                var a = BinaryTensors.Floats(actualBytes);
                Assert.Equal(e.Length, a.Length);
                Assert.All(e.Zip(a), pair => Assert.InRange(Math.Abs(pair.First - pair.Second), 0, tolerance));
            }
        }
    }

    [Fact]
    public async Task ModelInfer_TypedContents_ReturnStoredOutputs()
    {
        var sample = Samples.Sample("strings", 1);
        var request = new ModelInferRequest { ModelName = "strings" };
        foreach (var input in sample["inputs"]!.AsArray())
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = (string)input!["name"]!, Datatype = "BYTES", Contents = new InferTensorContents() };
            tensor.Shape.AddRange(TensorAssert.Longs(input["shape"]!));
            tensor.Contents.BytesContents.AddRange(TensorAssert.Flatten(input["data"]!).Select(v => ByteString.CopyFromUtf8(v.GetValue<string>())));
            request.Inputs.Add(tensor);
        }
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "OUTPUT1" });

        var response = await _grpc.ModelInferAsync(request);

        var output = Assert.Single(response.Outputs);
        Assert.Equal("OUTPUT1", output.Name);
        var expected = sample["outputs"]![1]!;
        Assert.Equal(BinaryTensors.Pack("BYTES", expected["data"]!), response.RawOutputContents[0].ToByteArray());

        var mlp = new ModelInferRequest { ModelName = "mlp_torch" };
        var mlpSample = Samples.Sample("mlp_torch", 1);
        var features = new ModelInferRequest.Types.InferInputTensor { Name = "INPUT__0", Datatype = "FP32", Contents = new InferTensorContents() };
        features.Shape.AddRange(TensorAssert.Longs(mlpSample["inputs"]![0]!["shape"]!));
        features.Contents.Fp32Contents.AddRange(TensorAssert.Flatten(mlpSample["inputs"]![0]!["data"]!).Select(v => (float)v.GetValue<double>()));
        mlp.Inputs.Add(features);
        var probabilities = BinaryTensors.Floats((await _grpc.ModelInferAsync(mlp)).RawOutputContents[0].Span);
        var expectedProbabilities = TensorAssert.Flatten(mlpSample["outputs"]![0]!["data"]!).Select(v => v.GetValue<double>()).ToArray();
        Assert.All(probabilities.Zip(expectedProbabilities), pair => Assert.InRange(Math.Abs(pair.First - pair.Second), 0, 1e-5));
    }

    public static TheoryData<string, StatusCode, string> BadRequests => new()
    {
        { "unknown model", StatusCode.NotFound, "'nonexistent' is not found" },
        { "wrong shape", StatusCode.InvalidArgument, "unexpected shape for input 'INPUT0'" },
        { "fp16 as typed contents", StatusCode.InvalidArgument, "send it in raw_input_contents" },
        { "raw count", StatusCode.InvalidArgument, "raw_input_contents has 1 entries but the request has 2 inputs" },
        { "raw size", StatusCode.InvalidArgument, "raw_input_contents holds 63 bytes" },
        { "int8 out of range", StatusCode.InvalidArgument, "out of range for its datatype" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task ModelInfer_BadRequest_ReturnsStatusNamingTheProblem(string caseName, StatusCode status, string message)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => _grpc.ModelInferAsync(BadRequest(caseName)).ResponseAsync);
        Assert.Equal(status, error.StatusCode);
        Assert.Contains(message, error.Status.Detail, StringComparison.Ordinal);
        Assert.True((await _grpc.ModelReadyAsync(new ModelReadyRequest { Name = "simple" })).Ready);
    }

    [Fact]
    public async Task ModelStreamInfer_ReportsErrorsInStreamAndKeepsServing()
    {
        using var call = _grpc.ModelStreamInfer();
        await call.RequestStream.WriteAsync(BadRequest("wrong shape"));
        await call.RequestStream.WriteAsync(SimpleRequest("good"));
        await call.RequestStream.CompleteAsync();

        var responses = new List<ModelStreamInferResponse>();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            responses.Add(response);
        }

        Assert.Equal(2, responses.Count);
        Assert.Contains("unexpected shape", responses[0].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal("", responses[1].ErrorMessage);
        Assert.Equal("good", responses[1].InferResponse.Id);
        var sum = responses[1].InferResponse.RawOutputContents[0].Span;
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(sum)); // 0 + 1
    }

    [Fact]
    public async Task ConfigStatisticsAndRepository_MatchTheModels()
    {
        var config = (await _grpc.ModelConfigAsync(new ModelConfigRequest { Name = "mlp" })).Config;
        Assert.Equal(32, config.MaxBatchSize);
        Assert.Equal(DataType.TypeFp32, config.Input[0].DataType);
        Assert.Equal([16L], config.Input[0].Dims);

        var before = (await _grpc.ModelStatisticsAsync(new ModelStatisticsRequest { Name = "simple" })).ModelStats[0];
        await _grpc.ModelInferAsync(SimpleRequest("counted"));
        var after = (await _grpc.ModelStatisticsAsync(new ModelStatisticsRequest { Name = "simple" })).ModelStats[0];
        Assert.Equal(before.InferenceCount + 1, after.InferenceCount);
        Assert.Equal(before.InferenceStats.Success.Count + 1, after.InferenceStats.Success.Count);
        Assert.True(after.InferenceStats.ComputeInfer.Ns > before.InferenceStats.ComputeInfer.Ns);

        var index = await _grpc.RepositoryIndexAsync(new RepositoryIndexRequest { Ready = true });
        Assert.Equal(Samples.AllModelNames.Order(StringComparer.Ordinal), index.Models.Select(m => m.Name));
        Assert.All(index.Models, m => Assert.Equal("READY", m.State));

        var load = await Assert.ThrowsAsync<RpcException>(() => _grpc.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = "simple" }).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, load.StatusCode);
        Assert.Contains("model control mode NONE", load.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ModelInfer_HandEncodedWireBytes_UseTritonFieldNumbers()
    {
        // ModelInferRequest encoded by hand with the field numbers of Triton's grpc_service.proto:
        // model_name = 1, inputs = 5 (name = 1, datatype = 2, shape = 3 packed), raw_input_contents = 7.
        var message = new MemoryStream();
        WriteString(message, 1, "simple");
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            var input = new MemoryStream();
            WriteString(input, 1, name);
            WriteString(input, 2, "INT32");
            WriteBytes(input, 3, [1, 16]); // packed varints 1, 16
            WriteBytes(message, 5, input.ToArray());
        }
        var values = new byte[64];
        for (var i = 0; i < 16; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(values.AsSpan(i * 4), i * 3);
        }
        WriteBytes(message, 7, values);
        WriteBytes(message, 7, values);

        var method = new Method<byte[], byte[]>(MethodType.Unary, "inference.GRPCInferenceService", "ModelInfer",
            Marshallers.Create(bytes => bytes, bytes => bytes), Marshallers.Create(bytes => bytes, bytes => bytes));
        var reply = await fixture.GrpcChannel.CreateCallInvoker().AsyncUnaryCall(method, null, new CallOptions(), message.ToArray());

        // ModelInferResponse: raw_output_contents = 6, in output order (OUTPUT0 = sum, OUTPUT1 = difference).
        var raw = ReadFields(reply).Where(field => field.Number == 6).Select(field => field.Value).ToList();
        Assert.Equal(2, raw.Count);
        for (var i = 0; i < 16; i++)
        {
            Assert.Equal(i * 6, BinaryPrimitives.ReadInt32LittleEndian(raw[0].AsSpan(i * 4)));
            Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian(raw[1].AsSpan(i * 4)));
        }
        Assert.Contains(ReadFields(reply), field => field.Number == 1 && Encoding.UTF8.GetString(field.Value) == "simple");
    }

    [Fact]
    public async Task ModelInfer_MalformedProtobuf_ReturnsInvalidArgumentAndKeepsServing()
    {
        var method = new Method<byte[], byte[]>(MethodType.Unary, "inference.GRPCInferenceService", "ModelInfer",
            Marshallers.Create(bytes => bytes, bytes => bytes), Marshallers.Create(bytes => bytes, bytes => bytes));
        var random = new Random(11);
        for (var i = 0; i < 50; i++)
        {
            var garbage = new byte[random.Next(1, 200)];
            random.NextBytes(garbage);
            garbage[0] = 0xFF; // an invalid wire type, so the bytes can never parse
            var error = await Assert.ThrowsAsync<RpcException>(() => fixture.GrpcChannel.CreateCallInvoker().AsyncUnaryCall(method, null, new CallOptions(), garbage).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.StartsWith("malformed ModelInferRequest: ", error.Status.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain("CodedInputStream", error.Status.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain("Protocol message", error.Status.Detail, StringComparison.Ordinal);
        }
        var response = await _grpc.ModelInferAsync(SimpleRequest("after"));
        Assert.Equal("after", response.Id);
    }

    [Theory]
    // A valid request cut short: its last field claims more bytes than follow.
    [InlineData("truncated", "malformed ModelInferRequest: it ends in the middle of a field (truncated, or a field claims more bytes than follow)")]
    // model_name (field 1, length-delimited) holding 0xC3 0x28, which is not UTF-8.
    [InlineData("not utf-8", "malformed ModelInferRequest: a string field is not valid UTF-8")]
    // Field number 0.
    [InlineData("field zero", "malformed ModelInferRequest: a field has number 0")]
    public async Task ModelInfer_MalformedProtobuf_IsDescribedInOurWords(string damage, string expected)
    {
        var method = new Method<byte[], byte[]>(MethodType.Unary, "inference.GRPCInferenceService", "ModelInfer",
            Marshallers.Create(bytes => bytes, bytes => bytes), Marshallers.Create(bytes => bytes, bytes => bytes));
        var valid = SimpleRequest("x").ToByteArray();
        byte[] body = damage switch
        {
            "truncated" => valid[..^3],
            "not utf-8" => [0x0A, 0x02, 0xC3, 0x28],
            _ => [0x00, 0x01],
        };

        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.GrpcChannel.CreateCallInvoker().AsyncUnaryCall(method, null, new CallOptions(), body).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(expected, error.Status.Detail);
    }

    private static ModelInferRequest SimpleRequest(string id)
    {
        var request = new ModelInferRequest { ModelName = "simple", Id = id };
        foreach (var (name, value) in new[] { ("INPUT0", 0), ("INPUT1", 1) })
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32", Contents = new InferTensorContents() };
            tensor.Shape.AddRange([1, 16]);
            tensor.Contents.IntContents.AddRange(Enumerable.Repeat(value, 16));
            request.Inputs.Add(tensor);
        }
        return request;
    }

    private static ModelInferRequest BadRequest(string caseName)
    {
        switch (caseName)
        {
            case "unknown model":
                var unknown = SimpleRequest("x");
                unknown.ModelName = "nonexistent";
                return unknown;
            case "wrong shape":
                var shape = SimpleRequest("x");
                shape.Inputs[0].Shape[1] = 15;
                return shape;
            case "fp16 as typed contents":
                var fp16 = new ModelInferRequest { ModelName = "identity" };
                var tensor = new ModelInferRequest.Types.InferInputTensor { Name = "INPUT_FP16", Datatype = "FP16", Contents = new InferTensorContents() };
                tensor.Shape.Add(1);
                tensor.Contents.Fp32Contents.Add(1);
                fp16.Inputs.Add(tensor);
                return fp16;
            case "raw count":
                var count = SimpleRequest("x");
                foreach (var input in count.Inputs)
                {
                    input.Contents = null;
                }
                count.RawInputContents.Add(ByteString.CopyFrom(new byte[64]));
                return count;
            case "raw size":
                var size = SimpleRequest("x");
                foreach (var input in size.Inputs)
                {
                    input.Contents = null;
                }
                size.RawInputContents.Add(ByteString.CopyFrom(new byte[63]));
                size.RawInputContents.Add(ByteString.CopyFrom(new byte[64]));
                return size;
            case "int8 out of range":
                var int8 = new ModelInferRequest { ModelName = "identity" };
                var small = new ModelInferRequest.Types.InferInputTensor { Name = "INPUT_INT8", Datatype = "INT8", Contents = new InferTensorContents() };
                small.Shape.Add(1);
                small.Contents.IntContents.Add(300);
                int8.Inputs.Add(small);
                return int8;
            default:
                throw new ArgumentException(caseName);
        }
    }
}
