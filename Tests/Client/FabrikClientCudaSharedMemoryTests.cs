using Fabrik.Client;
using Fabrik.Hosting;
using Fabrik.Testing.SimulatedDevice;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>
/// Triton's CUDA shared-memory extension through <see cref="FabrikClient"/>, over HTTP JSON, HTTP
/// binary and gRPC, against the real server in memory with CUDA IPC simulated (a host without a
/// GPU has none; <see cref="SimulatedCudaSharedMemory"/>): every datatype of the identity model
/// read from a device allocation and written back into another, compared with the bytes the test
/// packed and with the same request sent in the body; status, unregister and a refused handle.
/// </summary>
public sealed class FabrikClientCudaSharedMemoryTests : IAsyncLifetime
{
    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("identity");
    private readonly SimulatedCudaSharedMemory _cuda = new();
    private InMemoryFabrik _fabrik = null!;

    public async Task InitializeAsync() => _fabrik = await InMemoryFabrik.StartWithCudaSharedMemoryAsync(
        ServerOptions.Parse(["--model-repository", _repository.Path, "--allow-shared-memory=true"]), _cuda);

    public async Task DisposeAsync()
    {
        var pool = _fabrik.Server.TensorPool;
        await _fabrik.DisposeAsync();
        PoolLeaks.AssertNoneOutstanding(pool);
        _repository.Dispose();
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_EveryDatatypeThroughCudaRegions_EqualsTheSameRequestInTheBody(ClientMode mode)
    {
        using var client = ClientHost.Create(_fabrik, mode);
        var tensors = new List<(string Name, string Output, TensorDataType Type, long[] Shape, byte[] Packed, int Offset)>();
        var offset = 8;
        foreach (var input in Samples.Sample("identity", 0)["inputs"]!.AsArray())
        {
            var name = (string)input!["name"]!;
            Assert.True(TensorDataTypes.TryParse((string)input["datatype"]!, out var type));
            var packed = BinaryTensors.Pack((string)input["datatype"]!, input["data"]!);
            tensors.Add((name, name.Replace("INPUT_", "OUTPUT_", StringComparison.Ordinal), type, [.. input["shape"]!.AsArray().Select(dim => (long)dim!)], packed, offset));
            offset += packed.Length + 5;
        }
        var inputMemory = new byte[offset];
        var outputMemory = new byte[offset];
        var request = new InferRequest("identity");
        var inBody = new InferRequest("identity");
        foreach (var tensor in tensors)
        {
            tensor.Packed.CopyTo(inputMemory, tensor.Offset);
            request.Inputs.Add(InferInput.CreateInSharedMemory(tensor.Name, tensor.Type, new SharedMemoryRange("in", tensor.Packed.Length, tensor.Offset), tensor.Shape));
            request.WithOutput(tensor.Output, new SharedMemoryRange("out", tensor.Packed.Length, tensor.Offset));
            inBody.Inputs.Add(InferInput.CreateRaw(tensor.Name, tensor.Type, tensor.Packed, tensor.Shape));
        }
        await client.RegisterCudaSharedMemoryAsync("in", _cuda.Export(0, inputMemory), deviceId: 0, byteSize: offset);
        await client.RegisterCudaSharedMemoryAsync("out", _cuda.Export(0, outputMemory), deviceId: 0, byteSize: offset);

        using var result = await client.InferAsync(request);
        using var expected = await client.InferAsync(inBody);

        foreach (var tensor in tensors)
        {
            var answer = result.GetOutput(tensor.Output);
            Assert.Equal("out", answer.SharedMemoryRegion);
            Assert.True(answer.Data.IsEmpty);
            var written = outputMemory.AsSpan(tensor.Offset, tensor.Packed.Length).ToArray();
            Assert.Equal(tensor.Packed, written);
            Assert.Equal(expected.GetOutput(tensor.Output).Data.ToArray(), written);
        }

        var status = await client.GetCudaSharedMemoryStatusAsync();
        Assert.Equal([new CudaSharedMemoryRegionStatus("in", 0, offset), new CudaSharedMemoryRegionStatus("out", 0, offset)], status);
        Assert.Empty(await client.GetSystemSharedMemoryStatusAsync());
        await client.UnregisterCudaSharedMemoryAsync("in");
        Assert.Equal(["out"], (await client.GetCudaSharedMemoryStatusAsync()).Select(region => region.Name));
        await client.UnregisterCudaSharedMemoryAsync();
        Assert.Empty(await client.GetCudaSharedMemoryStatusAsync());
        Assert.Equal(0, _cuda.OpenMappings);
    }

    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.Grpc)]
    public async Task Register_AHandleNobodyExported_IsATypedInvalidArgument(ClientMode mode)
    {
        using var client = ClientHost.Create(_fabrik, mode);
        var refused = await Assert.ThrowsAsync<FabrikException>(() => client.RegisterCudaSharedMemoryAsync("r", new byte[64], deviceId: 0, byteSize: 64));
        Assert.Equal(FabrikErrorKind.InvalidArgument, refused.Kind);
        Assert.Contains("could not be opened on device 0", refused.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<FabrikException>(() => client.GetCudaSharedMemoryStatusAsync("r"));
        Assert.Equal(FabrikErrorKind.NotFound, missing.Kind);
    }
}
