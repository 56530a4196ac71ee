using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Google.Protobuf;
using Grpc.Core;
using Fabrik.Hosting;
using Fabrik.Tests.Support;
using Xunit;
using static Fabrik.Tests.Support.ProtobufWire;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// Triton's system shared-memory extension end to end: regions the test creates in /dev/shm,
/// registered over HTTP and gRPC, every datatype read from a region and written back into one.
/// Expected bytes are packed by the test (<see cref="BinaryTensors"/>), and each result is also
/// compared with the same request sent in the body.
/// </summary>
public sealed class SharedMemoryTests : IAsyncLifetime
{
    private const string HeaderName = "Inference-Header-Content-Length";

    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("identity");
    private readonly List<SharedMemoryFile> _files = [];
    private InMemoryClients _server = null!;

    private HttpClient Http => _server.Http;

    private GRPCInferenceService.GRPCInferenceServiceClient Rpc => _server.Grpc;

    public async Task InitializeAsync() =>
        _server = await InMemoryClients.StartAsync(ServerOptions.Parse(["--model-repository", _repository.Path, "--allow-shared-memory=true"]));

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        foreach (var file in _files)
        {
            file.Dispose();
        }
        _repository.Dispose();
    }

    private SharedMemoryFile Region(long size)
    {
        var file = new SharedMemoryFile(size);
        _files.Add(file);
        return file;
    }

    private async Task RegisterAsync(string name, SharedMemoryFile file, long offset, long size)
    {
        using var response = await Http.PostAsJsonAsync($"/v2/systemsharedmemory/region/{name}/register", new { key = file.Key, offset, byte_size = size });
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    private static JsonObject Parameters(string region, long offset, long size) => new()
    {
        ["shared_memory_region"] = region, ["shared_memory_offset"] = offset, ["shared_memory_byte_size"] = size,
    };

    [Fact]
    public async Task HttpJson_EveryDatatypeThroughRegions_EqualsTheSameRequestInTheBody()
    {
        var tensors = IdentityRegionTensor.Layout();
        var end = tensors[^1].Offset + tensors[^1].Packed.Length;
        var input = Region(end + 16);
        var output = Region(end + 16);
        foreach (var tensor in tensors)
        {
            input.Write(tensor.Offset, tensor.Packed);
        }
        await RegisterAsync("in", input, 0, end);
        await RegisterAsync("out", output, 16, end); // the region starts 16 bytes into the object

        var request = new JsonObject
        {
            ["inputs"] = new JsonArray([.. tensors.Select(t => new JsonObject
            {
                ["name"] = t.Name, ["datatype"] = t.Datatype, ["shape"] = t.Shape.DeepClone(), ["parameters"] = Parameters("in", t.Offset, t.Packed.Length),
            })]),
            ["outputs"] = new JsonArray([.. tensors.Select(t => new JsonObject { ["name"] = t.Output, ["parameters"] = Parameters("out", t.Offset, t.Packed.Length) })]),
        };
        using var response = await Http.PostAsync("/v2/models/identity/infer", new StringContent(request.ToJsonString()));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);

        var inBody = await InBodyAsync(tensors);
        var outputs = JsonNode.Parse(text)!["outputs"]!.AsArray();
        Assert.Equal(tensors.Count, outputs.Count);
        for (var i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i];
            Assert.Equal(tensor.Output, (string)outputs[i]!["name"]!);
            Assert.Null(outputs[i]!["data"]);
            Assert.Equal("out", (string)outputs[i]!["parameters"]!["shared_memory_region"]!);
            var written = output.Read(16 + tensor.Offset, tensor.Packed.Length);
            Assert.Equal(tensor.Packed, written);
            Assert.Equal(inBody[tensor.Output], written);
        }
        var statistics = JsonNode.Parse(await Http.GetStringAsync("/v2/models/identity/stats"))!["model_stats"]![0]!["inference_stats"]!;
        Assert.Equal(2, (int)statistics["success"]!["count"]!);
    }

    [Fact]
    public async Task HttpBinary_RegionsBesideBinaryData_EachTensorWhereItWasAsked()
    {
        var tensors = IdentityRegionTensor.Layout();
        var end = tensors[^1].Offset + tensors[^1].Packed.Length;
        var input = Region(end);
        var output = Region(end);
        await RegisterAsync("in", input, 0, end);
        await RegisterAsync("out", output, 0, end);
        var inputs = new JsonArray();
        var outputs = new JsonArray();
        var parts = new List<byte[]>();
        for (var i = 0; i < tensors.Count; i++)
        {
            // Even tensors travel in regions, odd ones as binary data in the body.
            var tensor = tensors[i];
            var inRegion = i % 2 == 0;
            if (inRegion)
            {
                input.Write(tensor.Offset, tensor.Packed);
            }
            else
            {
                parts.Add(tensor.Packed);
            }
            inputs.Add(new JsonObject
            {
                ["name"] = tensor.Name, ["datatype"] = tensor.Datatype, ["shape"] = tensor.Shape.DeepClone(),
                ["parameters"] = inRegion ? Parameters("in", tensor.Offset, tensor.Packed.Length) : new JsonObject { ["binary_data_size"] = tensor.Packed.Length },
            });
            outputs.Add(new JsonObject
            {
                ["name"] = tensor.Output,
                ["parameters"] = inRegion ? Parameters("out", tensor.Offset, tensor.Packed.Length) : new JsonObject { ["binary_data"] = true },
            });
        }
        var (status, json, binary) = await PostBinaryAsync(BinaryTensors.Body(new JsonObject { ["inputs"] = inputs, ["outputs"] = outputs }, [.. parts]));

        Assert.Equal(HttpStatusCode.OK, status);
        var position = 0;
        for (var i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i];
            var answer = json!["outputs"]![i]!;
            Assert.Null(answer["data"]);
            if (i % 2 == 0)
            {
                Assert.Equal(tensor.Packed, output.Read(tensor.Offset, tensor.Packed.Length));
            }
            else
            {
                var size = (int)answer["parameters"]!["binary_data_size"]!;
                Assert.Equal(tensor.Packed, binary.AsSpan(position, size).ToArray());
                position += size;
            }
        }
        Assert.Equal(binary.Length, position);
    }

    [Fact]
    public async Task Grpc_EveryDatatypeThroughRegions_EqualsTheSameRequestInTheBody()
    {
        var tensors = IdentityRegionTensor.Layout();
        var end = tensors[^1].Offset + tensors[^1].Packed.Length;
        var input = Region(end);
        var output = Region(end);
        await Rpc.SystemSharedMemoryRegisterAsync(new SystemSharedMemoryRegisterRequest { Name = "in", Key = input.Key, ByteSize = (ulong)end });
        await Rpc.SystemSharedMemoryRegisterAsync(new SystemSharedMemoryRegisterRequest { Name = "out", Key = output.Key, ByteSize = (ulong)end });

        var request = new ModelInferRequest { ModelName = "identity" };
        var inBody = new ModelInferRequest { ModelName = "identity" };
        for (var i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i];
            var message = Input(tensor);
            // Even inputs from the region; odd ones in raw_input_contents, which then holds only those.
            if (i % 2 == 0)
            {
                input.Write(tensor.Offset, tensor.Packed);
                message.Parameters.Add("shared_memory_region", new InferParameter { StringParam = "in" });
                message.Parameters.Add("shared_memory_offset", new InferParameter { Int64Param = tensor.Offset });
                message.Parameters.Add("shared_memory_byte_size", new InferParameter { Uint64Param = (ulong)tensor.Packed.Length });
            }
            else
            {
                request.RawInputContents.Add(ByteString.CopyFrom(tensor.Packed));
            }
            request.Inputs.Add(message);
            var outputTensor = new ModelInferRequest.Types.InferRequestedOutputTensor { Name = tensor.Output };
            outputTensor.Parameters.Add("shared_memory_region", new InferParameter { StringParam = "out" });
            outputTensor.Parameters.Add("shared_memory_offset", new InferParameter { Int64Param = tensor.Offset });
            outputTensor.Parameters.Add("shared_memory_byte_size", new InferParameter { Int64Param = tensor.Packed.Length });
            request.Outputs.Add(outputTensor);
            inBody.Inputs.Add(Input(tensor));
            inBody.RawInputContents.Add(ByteString.CopyFrom(tensor.Packed));
        }

        var response = await Rpc.ModelInferAsync(request);
        var expected = await Rpc.ModelInferAsync(inBody);

        Assert.Equal(tensors.Count, response.Outputs.Count);
        Assert.Equal(response.Outputs.Count, response.RawOutputContents.Count);
        for (var i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i];
            Assert.Equal(tensor.Output, response.Outputs[i].Name);
            Assert.True(response.RawOutputContents[i].IsEmpty);
            Assert.Equal("out", response.Outputs[i].Parameters["shared_memory_region"].StringParam);
            var written = output.Read(tensor.Offset, tensor.Packed.Length);
            Assert.Equal(tensor.Packed, written);
            Assert.Equal(expected.RawOutputContents[i].ToByteArray(), written);
        }
    }

    [Fact]
    public async Task StatusAndUnregister_OverBothProtocols_ShowTheSameRegions()
    {
        var file = Region(4096);
        await RegisterAsync("a", file, 0, 1024);
        await Rpc.SystemSharedMemoryRegisterAsync(new SystemSharedMemoryRegisterRequest { Name = "b", Key = file.Key, Offset = 1024, ByteSize = 3072 });

        var all = JsonNode.Parse(await Http.GetStringAsync("/v2/systemsharedmemory/status"))!.AsArray();
        Assert.Equal(["a", "b"], all.Select(region => (string)region!["name"]!));
        Assert.Equal(file.Key, (string)all[1]!["key"]!);
        Assert.Equal(1024, (long)all[1]!["offset"]!);
        Assert.Equal(3072, (long)all[1]!["byte_size"]!);
        var one = await Rpc.SystemSharedMemoryStatusAsync(new SystemSharedMemoryStatusRequest { Name = "a" });
        Assert.Equal(1024UL, Assert.Single(one.Regions).Value.ByteSize);
        Assert.Empty((await Rpc.CudaSharedMemoryStatusAsync(new CudaSharedMemoryStatusRequest())).Regions);

        using (var unregister = await Http.PostAsync("/v2/systemsharedmemory/region/a/unregister", null))
        {
            Assert.Equal(HttpStatusCode.OK, unregister.StatusCode);
        }
        Assert.Equal(["b"], (await Rpc.SystemSharedMemoryStatusAsync(new SystemSharedMemoryStatusRequest())).Regions.Keys);
        await Rpc.SystemSharedMemoryUnregisterAsync(new SystemSharedMemoryUnregisterRequest());
        Assert.Empty(JsonNode.Parse(await Http.GetStringAsync("/v2/systemsharedmemory/status"))!.AsArray());
        using var missing = await Http.GetAsync("/v2/systemsharedmemory/region/a/status");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Grpc_HandEncodedRegisterAndStatus_UseTritonFieldNumbers()
    {
        var file = Region(4096);
        // SystemSharedMemoryRegisterRequest: name = 1, key = 2, offset = 3, byte_size = 4.
        var register = new MemoryStream();
        WriteString(register, 1, "wire");
        WriteString(register, 2, file.Key);
        WriteVarintField(register, 3, 256);
        WriteVarintField(register, 4, 1024);
        await CallAsync("SystemSharedMemoryRegister", register.ToArray());

        // SystemSharedMemoryStatusResponse: regions = 1, a map entry (key = 1, value = 2) whose
        // RegionStatus has name = 1, key = 2, offset = 3, byte_size = 4.
        var status = new MemoryStream();
        WriteString(status, 1, "wire");
        var entry = Assert.Single(ProtobufWire.ReadFields(await CallAsync("SystemSharedMemoryStatus", status.ToArray())));
        Assert.Equal(1, entry.Number);
        var mapEntry = ProtobufWire.ReadFields(entry.Value);
        Assert.Equal("wire", System.Text.Encoding.UTF8.GetString(Assert.Single(mapEntry, field => field.Number == 1).Value));
        var region = Assert.Single(mapEntry, field => field.Number == 2).Value;
        Assert.Equal(["wire", file.Key], ProtobufWire.ReadFields(region).Select(field => System.Text.Encoding.UTF8.GetString(field.Value)));
        Assert.Equal([(3, 256UL), (4, 1024UL)], ProtobufWire.ReadVarints(region));
    }

    private Task<byte[]> CallAsync(string method, byte[] request)
    {
        var call = new Method<byte[], byte[]>(MethodType.Unary, "inference.GRPCInferenceService", method,
            Marshallers.Create(bytes => bytes, bytes => bytes), Marshallers.Create(bytes => bytes, bytes => bytes));
        return _server.Channel.CreateCallInvoker().AsyncUnaryCall(call, null, new CallOptions(), request).ResponseAsync;
    }

    [Fact]
    public async Task ServerMetadata_WithSharedMemoryOn_ListsTheExtension()
    {
        var metadata = JsonNode.Parse(await Http.GetStringAsync("/v2"))!;
        Assert.Contains("system_shared_memory", metadata["extensions"]!.AsArray().Select(extension => (string)extension!));
    }

    private static ModelInferRequest.Types.InferInputTensor Input(IdentityRegionTensor tensor)
    {
        var message = new ModelInferRequest.Types.InferInputTensor { Name = tensor.Name, Datatype = tensor.Datatype };
        message.Shape.AddRange(tensor.Shape.AsArray().Select(dim => (long)dim!));
        return message;
    }

    /// <summary>The same tensors sent in the body, outputs asked in binary: each output's bytes.</summary>
    private async Task<Dictionary<string, byte[]>> InBodyAsync(List<IdentityRegionTensor> tensors)
    {
        var header = new JsonObject
        {
            ["inputs"] = new JsonArray([.. tensors.Select(t => new JsonObject
            {
                ["name"] = t.Name, ["datatype"] = t.Datatype, ["shape"] = t.Shape.DeepClone(), ["parameters"] = new JsonObject { ["binary_data_size"] = t.Packed.Length },
            })]),
            ["parameters"] = new JsonObject { ["binary_data_output"] = true },
        };
        var (status, json, binary) = await PostBinaryAsync(BinaryTensors.Body(header, [.. tensors.Select(t => t.Packed)]));
        Assert.Equal(HttpStatusCode.OK, status);
        var outputs = new Dictionary<string, byte[]>();
        var position = 0;
        foreach (var output in json!["outputs"]!.AsArray())
        {
            var size = (int)output!["parameters"]!["binary_data_size"]!;
            outputs[(string)output["name"]!] = binary.AsSpan(position, size).ToArray();
            position += size;
        }
        return outputs;
    }

    private async Task<(HttpStatusCode Status, JsonNode? Json, byte[] Binary)> PostBinaryAsync((byte[] Body, int HeaderLength) request)
    {
        using var content = new ByteArrayContent(request.Body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add(HeaderName, request.HeaderLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await Http.PostAsync("/v2/models/identity/infer", content);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var jsonLength = response.Headers.TryGetValues(HeaderName, out var values) ? int.Parse(values.Single(), System.Globalization.CultureInfo.InvariantCulture) : bytes.Length;
        return (response.StatusCode, JsonNode.Parse(bytes.AsSpan(0, jsonLength)), bytes[jsonLength..]);
    }
}
