using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Security;
using Fabrik.Protocol.Triton;
using Fabrik.Testing.SimulatedDevice;
using Fabrik.Tests.Support;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// Triton's CUDA shared-memory extension end to end over HTTP and gRPC, with CUDA IPC simulated
/// (a host without a GPU has none): another process's device allocations are byte arrays the test
/// exports under random 64-byte handles. Every datatype is read from a region and written back
/// into one, compared with the bytes the test packed and with the same request sent in the body;
/// then the handles, sizes and allocations a hostile or careless client sends.
/// </summary>
public sealed class CudaSharedMemoryTests : IAsyncLifetime
{
    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("identity").Add("simple");
    private readonly SimulatedCudaSharedMemory _cuda = new(deviceCount: 2);
    private InMemoryClients _server = null!;

    private HttpClient Http => _server.Http;

    private GRPCInferenceService.GRPCInferenceServiceClient Rpc => _server.Grpc;

    public async Task InitializeAsync() => _server = await InMemoryClients.StartWithCudaSharedMemoryAsync(
        ServerOptions.Parse(["--model-repository", _repository.Path, "--allow-shared-memory=true", "--shared-memory-max-regions=3"]), _cuda);

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _repository.Dispose();
    }

    private static JsonObject Parameters(string region, long offset, long size) => new()
    {
        ["shared_memory_region"] = region, ["shared_memory_offset"] = offset, ["shared_memory_byte_size"] = size,
    };

    private async Task<(HttpStatusCode Status, string Error)> RegisterAsync(string name, byte[] handle, long deviceId, long byteSize)
    {
        using var response = await Http.PostAsJsonAsync($"/v2/cudasharedmemory/region/{name}/register",
            new { raw_handle = new { b64 = Convert.ToBase64String(handle) }, device_id = deviceId, byte_size = byteSize });
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, response.StatusCode == HttpStatusCode.OK ? "" : (string)JsonNode.Parse(text)!["error"]!);
    }

    private async Task<(HttpStatusCode Status, string Body)> InferSimpleFromRegionAsync(string region, long offset, long size)
    {
        var request = new JsonObject
        {
            ["inputs"] = new JsonArray(
                new JsonObject { ["name"] = "INPUT0", ["datatype"] = "INT32", ["shape"] = new JsonArray(1, 16), ["parameters"] = Parameters(region, offset, size) },
                new JsonObject { ["name"] = "INPUT1", ["datatype"] = "INT32", ["shape"] = new JsonArray(1, 16), ["data"] = new JsonArray([.. Enumerable.Repeat(1, 16).Select(v => (JsonNode)v)]) }),
        };
        using var response = await Http.PostAsync("/v2/models/simple/infer", new StringContent(request.ToJsonString()));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task HttpJson_EveryDatatypeThroughCudaRegions_EqualsTheSameRequestInTheBody()
    {
        var tensors = IdentityRegionTensor.Layout();
        var end = tensors[^1].Offset + tensors[^1].Packed.Length;
        var input = new byte[end + 16];
        var output = new byte[end + 16];
        foreach (var tensor in tensors)
        {
            tensor.Packed.CopyTo(input, tensor.Offset);
        }
        Assert.Equal((HttpStatusCode.OK, ""), await RegisterAsync("in", _cuda.Export(1, input), 1, end));
        Assert.Equal((HttpStatusCode.OK, ""), await RegisterAsync("out", _cuda.Export(0, output), 0, end + 16));

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
            Assert.Null(outputs[i]!["data"]);
            Assert.Equal("out", (string)outputs[i]!["parameters"]!["shared_memory_region"]!);
            var written = output.AsSpan(tensor.Offset, tensor.Packed.Length).ToArray();
            Assert.Equal(tensor.Packed, written);
            Assert.Equal(inBody[tensor.Output], written);
        }
    }

    [Fact]
    public async Task Grpc_RegisterInferStatusUnregister_ThroughACudaRegion()
    {
        var values = Enumerable.Range(0, 16).Select(i => i * 3 - 7).ToArray();
        var allocation = new byte[256];
        Buffer.BlockCopy(values, 0, allocation, 64, 64);
        var handle = _cuda.Export(0, allocation);
        await Rpc.CudaSharedMemoryRegisterAsync(new CudaSharedMemoryRegisterRequest { Name = "dev", RawHandle = ByteString.CopyFrom(handle), DeviceId = 0, ByteSize = 256 });

        var request = new ModelInferRequest { ModelName = "simple" };
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            request.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32", Shape = { 1, 16 } });
        }
        request.Inputs[0].Parameters.Add("shared_memory_region", new InferParameter { StringParam = "dev" });
        request.Inputs[0].Parameters.Add("shared_memory_offset", new InferParameter { Int64Param = 64 });
        request.Inputs[0].Parameters.Add("shared_memory_byte_size", new InferParameter { Int64Param = 64 });
        request.Inputs[1].Parameters.Add("shared_memory_region", new InferParameter { StringParam = "dev" });
        request.Inputs[1].Parameters.Add("shared_memory_offset", new InferParameter { Int64Param = 64 });
        request.Inputs[1].Parameters.Add("shared_memory_byte_size", new InferParameter { Int64Param = 64 });
        var sum = new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "OUTPUT0" };
        sum.Parameters.Add("shared_memory_region", new InferParameter { StringParam = "dev" });
        sum.Parameters.Add("shared_memory_offset", new InferParameter { Int64Param = 128 });
        sum.Parameters.Add("shared_memory_byte_size", new InferParameter { Int64Param = 64 });
        request.Outputs.Add(sum);
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "OUTPUT1" });

        var response = await Rpc.ModelInferAsync(request);

        // simple adds and subtracts its inputs; both read the same 64 bytes of the allocation here.
        var written = new int[16];
        Buffer.BlockCopy(allocation, 128, written, 0, 64);
        Assert.Equal(values.Select(v => v + v), written);
        Assert.True(response.RawOutputContents[0].IsEmpty);
        Assert.Equal(new byte[64], response.RawOutputContents[1].ToByteArray());

        var status = await Rpc.CudaSharedMemoryStatusAsync(new CudaSharedMemoryStatusRequest { Name = "dev" });
        var region = Assert.Single(status.Regions).Value;
        Assert.Equal(("dev", 0UL, 256UL), (region.Name, region.DeviceId, region.ByteSize));
        var overHttp = JsonNode.Parse(await Http.GetStringAsync("/v2/cudasharedmemory/status"))!.AsArray();
        Assert.Equal("""[{"name":"dev","device_id":0,"byte_size":256}]""", overHttp.ToJsonString());
        Assert.Empty((await Rpc.SystemSharedMemoryStatusAsync(new SystemSharedMemoryStatusRequest())).Regions);
        Assert.Equal(1, _cuda.OpenMappings);

        await Rpc.CudaSharedMemoryUnregisterAsync(new CudaSharedMemoryUnregisterRequest { Name = "dev" });
        Assert.Equal(0, _cuda.OpenMappings);
        var gone = await Assert.ThrowsAsync<RpcException>(() => Rpc.CudaSharedMemoryStatusAsync(new CudaSharedMemoryStatusRequest { Name = "dev" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task ServerMetadata_WithADeviceAndSharedMemoryOn_ListsBothExtensions()
    {
        var extensions = JsonNode.Parse(await Http.GetStringAsync("/v2"))!["extensions"]!.AsArray().Select(extension => (string)extension!).ToList();
        Assert.Contains("system_shared_memory", extensions);
        Assert.Contains("cuda_shared_memory", extensions);
    }

    [Fact]
    public async Task Handles_ThatAreNotCudaIpcHandles_AreRefusedInTheClientsTerms_AndNothingStaysOpen()
    {
        var allocation = new byte[128];
        var handle = _cuda.Export(0, allocation);

        var (status, error) = await RegisterAsync("short", handle[..32], 0, 64);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("64 bytes of a CUDA IPC handle", error, StringComparison.Ordinal);

        // A handle nobody exported: the driver's words go to the log, never to the client.
        (status, error) = await RegisterAsync("unknown", new byte[64], 0, 64);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("could not be opened on device 0", error, StringComparison.Ordinal);
        Assert.DoesNotContain("CUDA error", error, StringComparison.Ordinal);
        Assert.DoesNotContain("cuIpc", error, StringComparison.Ordinal);

        // The right handle on another device is another device's unknown handle.
        (status, error) = await RegisterAsync("wrong-device", handle, 1, 64);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("raw_handle of CUDA shared memory region 'wrong-device' could not be opened on device 1: it must come from cudaIpcGetMemHandle "
            + "in another process on this host, for memory on that device that is still allocated", error);

        (status, error) = await RegisterAsync("no-device", handle, 2, 64);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("device_id 2 is not a CUDA device of this server (0 to 1)", error, StringComparison.Ordinal);

        // More than the allocation holds: refused against the driver's size, the mapping closed.
        (status, error) = await RegisterAsync("too-big", handle, 0, 129);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("holds 128 bytes, fewer than byte_size 129", error, StringComparison.Ordinal);

        var zero = await Assert.ThrowsAsync<RpcException>(() => Rpc.CudaSharedMemoryRegisterAsync(
            new CudaSharedMemoryRegisterRequest { Name = "zero", RawHandle = ByteString.CopyFrom(handle), ByteSize = 0 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, zero.StatusCode);
        var huge = await Assert.ThrowsAsync<RpcException>(() => Rpc.CudaSharedMemoryRegisterAsync(
            new CudaSharedMemoryRegisterRequest { Name = "huge", RawHandle = ByteString.CopyFrom(handle), ByteSize = ulong.MaxValue }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, huge.StatusCode);

        Assert.Equal(0, _cuda.OpenMappings);
        Assert.Empty(JsonNode.Parse(await Http.GetStringAsync("/v2/cudasharedmemory/status"))!.AsArray());
    }

    [Fact]
    public async Task Ranges_PastTheRegion_AndAllocationsFreedAfterRegistration_Are4xx_AndTheServerServesOn()
    {
        var allocation = new byte[128];
        var handle = _cuda.Export(0, allocation);
        Assert.Equal((HttpStatusCode.OK, ""), await RegisterAsync("r", handle, 0, 96));

        var (status, body) = await InferSimpleFromRegionAsync("r", 64, 64);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("reaches past the end of region 'r' (96 bytes)", body, StringComparison.Ordinal);
        (status, body) = await InferSimpleFromRegionAsync("r", long.MaxValue, 64);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains($"shared_memory_offset {long.MaxValue} + shared_memory_byte_size 64 reaches past the end of region 'r' (96 bytes)", body, StringComparison.Ordinal);

        (status, body) = await InferSimpleFromRegionAsync("r", 0, 64);
        Assert.True(status == HttpStatusCode.OK, body);

        // The exporting process frees its memory while the region is registered.
        _cuda.Free(0, handle);
        (status, body) = await InferSimpleFromRegionAsync("r", 0, 64);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("could not be copied (was it freed?)", body, StringComparison.Ordinal);
        Assert.DoesNotContain("CUDA error", body, StringComparison.Ordinal);

        var fresh = new byte[64];
        Assert.Equal((HttpStatusCode.OK, ""), await RegisterAsync("fresh", _cuda.Export(0, fresh), 0, 64));
        (status, body) = await InferSimpleFromRegionAsync("fresh", 0, 64);
        Assert.True(status == HttpStatusCode.OK, body);
    }

    [Fact]
    public void CudaRegionUnregisteredWhileLeased_StaysOpenUntilTheLeaseEnds()
    {
        var cuda = new SimulatedCudaSharedMemory();
        using var audit = new AuditLog(null);
        using var registry = new SharedMemoryRegistry(new SharedMemorySettings { Allowed = true }, audit, cuda, NullLogger<SharedMemoryRegistry>.Instance);
        var allocation = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        registry.RegisterCuda("r", cuda.Export(0, allocation), 0, 64, remote: null, caller: null);
        var region = registry.Lease("r", "INPUT0", remote: null);

        registry.UnregisterCuda("r", remote: null, caller: null);
        Assert.Equal(1, cuda.OpenMappings);
        var bytes = new byte[16];
        region.Read("INPUT0", 48, bytes);
        Assert.Equal(allocation[48..], bytes);
        region.Release();

        Assert.Equal(0, cuda.OpenMappings);
        Assert.False(region.TryAcquire());
        Assert.Throws<Fabrik.Errors.InferenceException>(() => registry.Lease("r", "INPUT0", remote: null));
    }

    [Fact]
    public async Task SystemAndCudaRegions_ShareOneNamespaceAndOneLimit_AndEachUnregistersOnlyItsOwn()
    {
        using var file = new SharedMemoryFile(64);
        using (var system = await Http.PostAsJsonAsync("/v2/systemsharedmemory/region/taken/register", new { key = file.Key, offset = 0, byte_size = 64 }))
        {
            Assert.Equal(HttpStatusCode.OK, system.StatusCode);
        }
        var (status, error) = await RegisterAsync("taken", _cuda.Export(0, new byte[64]), 0, 64);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("already registered", error, StringComparison.Ordinal);

        Assert.Equal((HttpStatusCode.OK, ""), await RegisterAsync("c1", _cuda.Export(0, new byte[64]), 0, 64));
        Assert.Equal((HttpStatusCode.OK, ""), await RegisterAsync("c2", _cuda.Export(1, new byte[64]), 1, 64));
        (status, error) = await RegisterAsync("c3", _cuda.Export(0, new byte[64]), 0, 64);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("3 shared memory regions", error, StringComparison.Ordinal);
        Assert.Equal(2, _cuda.OpenMappings);

        // Each extension unregisters its own kind: a CUDA name through the system route is left
        // alone as an unknown name is (Triton's answer), and unregistering every system region
        // leaves the CUDA ones.
        using (var wrongKind = await Http.PostAsync("/v2/systemsharedmemory/region/c1/unregister", null))
        {
            Assert.Equal(HttpStatusCode.OK, wrongKind.StatusCode);
        }
        Assert.Equal(2, _cuda.OpenMappings);
        using (var allSystem = await Http.PostAsync("/v2/systemsharedmemory/unregister", null))
        {
            Assert.Equal(HttpStatusCode.OK, allSystem.StatusCode);
        }
        Assert.Equal(["c1", "c2"], JsonNode.Parse(await Http.GetStringAsync("/v2/cudasharedmemory/status"))!.AsArray().Select(region => (string)region!["name"]!));
        using (var allCuda = await Http.PostAsync("/v2/cudasharedmemory/unregister", null))
        {
            Assert.Equal(HttpStatusCode.OK, allCuda.StatusCode);
        }
        Assert.Equal(0, _cuda.OpenMappings);
        Assert.Empty(JsonNode.Parse(await Http.GetStringAsync("/v2/cudasharedmemory/status"))!.AsArray());
    }

    [Fact]
    public async Task WithoutTheFlag_CudaRegisterIsForbidden_AndNothingIsOpened()
    {
        await using var off = await InMemoryClients.StartWithCudaSharedMemoryAsync(ServerOptions.Parse(["--model-repository", _repository.Path]), _cuda);
        using var response = await off.Http.PostAsJsonAsync("/v2/cudasharedmemory/region/r/register",
            new { raw_handle = new { b64 = Convert.ToBase64String(_cuda.Export(0, new byte[64])) }, device_id = 0, byte_size = 64 });
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("--allow-shared-memory", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, _cuda.OpenMappings);
        Assert.DoesNotContain("cuda_shared_memory", await off.Http.GetStringAsync("/v2"), StringComparison.Ordinal);
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
        var (body, length) = BinaryTensors.Body(header, [.. tensors.Select(t => t.Packed)]);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add("Inference-Header-Content-Length", length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await Http.PostAsync("/v2/models/identity/infer", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var headerLength = int.Parse(response.Headers.GetValues("Inference-Header-Content-Length").Single(), System.Globalization.CultureInfo.InvariantCulture);
        var json = JsonNode.Parse(bytes.AsSpan(0, headerLength))!;
        var outputs = new Dictionary<string, byte[]>();
        var position = headerLength;
        foreach (var output in json["outputs"]!.AsArray())
        {
            var size = (int)output!["parameters"]!["binary_data_size"]!;
            outputs[(string)output["name"]!] = bytes.AsSpan(position, size).ToArray();
            position += size;
        }
        return outputs;
    }
}
