using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Native.Cuda;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// CUDA shared memory through the real driver: this test process allocates device memory and
/// exports it (cuIpcGetMemHandle), as a Triton client's <c>cudashm</c> utilities do, and the server,
/// another process as CUDA IPC requires, opens it, reads an input from it and writes an output
/// into it. Skipped, with the reason, on a host without a GPU.
/// </summary>
[Trait("Category", "Gpu")]
public sealed class CudaSharedMemoryGpuTests
{
    [GpuFact]
    public async Task ARegionOfThisProcesssDeviceMemory_IsReadAndWrittenByTheServer()
    {
        using var repository = new TemporaryRepository().Add("simple");
        await using var server = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--grpc-port", "0",
            "--metrics-port", "0", "--allow-grpc=false", "--allow-shared-memory=true");
        using var client = new HttpClient { BaseAddress = server.Address };
        using var context = CudaContext.Retain(0);
        using var device = context.AllocateDevice(256);
        var values = Enumerable.Range(0, 16).Select(i => (i * 5) - 3).ToArray();
        var initial = new byte[256];
        Buffer.BlockCopy(values, 0, initial, 0, 64);
        device.CopyFromHost(initial);

        using (var register = await client.PostAsJsonAsync("/v2/cudasharedmemory/region/gpu/register",
            new { raw_handle = new { b64 = Convert.ToBase64String(device.ExportIpcHandle().ToArray()) }, device_id = 0, byte_size = 256 }))
        {
            Assert.True(register.StatusCode == HttpStatusCode.OK, await register.Content.ReadAsStringAsync());
        }
        var request = new JsonObject
        {
            ["inputs"] = new JsonArray(
                new JsonObject
                {
                    ["name"] = "INPUT0", ["datatype"] = "INT32", ["shape"] = new JsonArray(1, 16),
                    ["parameters"] = new JsonObject { ["shared_memory_region"] = "gpu", ["shared_memory_offset"] = 0, ["shared_memory_byte_size"] = 64 },
                },
                new JsonObject { ["name"] = "INPUT1", ["datatype"] = "INT32", ["shape"] = new JsonArray(1, 16), ["data"] = new JsonArray([.. Enumerable.Repeat(2, 16).Select(v => (JsonNode)v)]) }),
            ["outputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "OUTPUT0",
                ["parameters"] = new JsonObject { ["shared_memory_region"] = "gpu", ["shared_memory_offset"] = 128, ["shared_memory_byte_size"] = 64 },
            }),
        };
        using (var response = await client.PostAsync("/v2/models/simple/infer", new StringContent(request.ToJsonString())))
        {
            Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        }

        var after = new byte[256];
        device.CopyToHost(after);
        var sums = new int[16];
        Buffer.BlockCopy(after, 128, sums, 0, 64);
        Assert.Equal(values.Select(v => v + 2), sums);
        using var unregister = await client.PostAsync("/v2/cudasharedmemory/region/gpu/unregister", null);
        Assert.Equal(HttpStatusCode.OK, unregister.StatusCode);
    }
}
