using Fabrik.Client;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>
/// Triton's system shared-memory extension through <see cref="FabrikClient"/> against the real
/// server in memory with <c>--allow-shared-memory=true</c>, over HTTP JSON, HTTP binary and gRPC:
/// regions registered, listed and unregistered, every datatype of the identity model read from a
/// region and written back into one. Expected bytes are packed by the test from the Python
/// sample (<see cref="BinaryTensors"/>), outputs are read straight from /dev/shm, and each result
/// is also compared with the same request sent in the body.
/// </summary>
public sealed class FabrikClientSharedMemoryTests : IAsyncLifetime
{
    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("identity").Add("image_pool");
    private InMemoryFabrik _fabrik = null!;

    public async Task InitializeAsync() =>
        _fabrik = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--allow-shared-memory=true");

    public async Task DisposeAsync()
    {
        var pool = _fabrik.Server.TensorPool;
        await _fabrik.DisposeAsync();
        PoolLeaks.AssertNoneOutstanding(pool);
        _repository.Dispose();
    }

    /// <summary>One identity input, packed, with where it lies in the regions.</summary>
    private sealed record Tensor(string Name, string Output, TensorDataType Datatype, long[] Shape, byte[] Packed, int Offset);

    private static List<Tensor> IdentityTensors()
    {
        var tensors = new List<Tensor>();
        var offset = 8; // not at the region's start, so offsets are exercised
        foreach (var input in Samples.Sample("identity", 0)["inputs"]!.AsArray())
        {
            var name = (string)input!["name"]!;
            var datatype = (string)input["datatype"]!;
            Assert.True(TensorDataTypes.TryParse(datatype, out var type));
            var packed = BinaryTensors.Pack(datatype, input["data"]!);
            tensors.Add(new Tensor(name, name.Replace("INPUT_", "OUTPUT_", StringComparison.Ordinal), type,
                [.. input["shape"]!.AsArray().Select(dim => (long)dim!)], packed, offset));
            offset += packed.Length + 5; // odd gaps: nothing relies on alignment
        }
        return tensors;
    }

    private static string Key() => $"/fabrik-client-test-{Guid.NewGuid():N}";

    [Theory]
    [InlineData(ClientMode.HttpJson, false)]
    [InlineData(ClientMode.HttpBinary, false)]
    [InlineData(ClientMode.Grpc, false)]
    [InlineData(ClientMode.HttpJson, true)]
    [InlineData(ClientMode.HttpBinary, true)]
    [InlineData(ClientMode.Grpc, true)]
    public async Task Infer_EveryDatatypeThroughRegions_EqualsTheSameRequestInTheBody(ClientMode mode, bool mixed)
    {
        using var client = ClientHost.Create(_fabrik, mode);
        var tensors = IdentityTensors();
        var end = tensors[^1].Offset + tensors[^1].Packed.Length;
        using var input = LocalSharedMemory.Create(Key(), end);
        using var output = LocalSharedMemory.Create(Key(), end + 16);
        await client.RegisterSystemSharedMemoryAsync("in", input.Key, end);
        await client.RegisterSystemSharedMemoryAsync("out", output.Key, end, offset: 16); // the region starts 16 bytes into the object

        // With mixed, even tensors travel through regions and odd ones in the body, both ways.
        bool InRegion(int index) => !mixed || index % 2 == 0;
        var request = new InferRequest("identity");
        var inBody = new InferRequest("identity");
        for (var i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i];
            inBody.Inputs.Add(InferInput.CreateRaw(tensor.Name, tensor.Datatype, tensor.Packed, tensor.Shape));
            if (InRegion(i))
            {
                input.Write(tensor.Offset, tensor.Packed);
                request.Inputs.Add(InferInput.CreateInSharedMemory(tensor.Name, tensor.Datatype, new SharedMemoryRange("in", tensor.Packed.Length, tensor.Offset), tensor.Shape));
                request.WithOutput(tensor.Output, new SharedMemoryRange("out", tensor.Packed.Length, tensor.Offset));
            }
            else
            {
                request.Inputs.Add(InferInput.CreateRaw(tensor.Name, tensor.Datatype, tensor.Packed, tensor.Shape));
                request.WithOutput(tensor.Output);
            }
        }

        using var result = await client.InferAsync(request);
        using var expected = await client.InferAsync(inBody);

        var written = File.ReadAllBytes("/dev/shm" + output.Key);
        Assert.Equal(tensors.Count, result.Outputs.Count);
        for (var i = 0; i < tensors.Count; i++)
        {
            var tensor = tensors[i];
            var answer = result.GetOutput(tensor.Output);
            var reference = expected.GetOutput(tensor.Output).Data.ToArray();
            Assert.Equal(tensor.Datatype, answer.Datatype);
            Assert.Equal(tensor.Shape, answer.Shape);
            Assert.Equal(tensor.Packed, reference);
            if (InRegion(i))
            {
                Assert.Equal("out", answer.SharedMemoryRegion);
                Assert.Equal(tensor.Packed.Length, answer.SharedMemoryByteSize);
                Assert.True(answer.Data.IsEmpty);
                Assert.Throws<InvalidOperationException>(() => answer.ToByteStrings());
                Assert.Equal(reference, written.AsSpan(16 + tensor.Offset, tensor.Packed.Length).ToArray());
                Assert.Equal(reference, output.Read<byte>(16 + tensor.Offset, tensor.Packed.Length));
            }
            else
            {
                Assert.Null(answer.SharedMemoryRegion);
                Assert.Equal(reference, answer.Data.ToArray());
            }
        }
        await client.UnregisterSystemSharedMemoryAsync();
    }

    [Theory]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Infer_ResNetSizedInputFromARegion_ReturnsTheChannelMeans(ClientMode mode)
    {
        // image_pool: FP32 [1,3,224,224] (602,112 bytes) reduced to its mean per channel.
        const int plane = 224 * 224;
        var image = new float[3 * plane];
        var random = new Random(29);
        for (var i = 0; i < image.Length; i++)
        {
            image[i] = (float)random.NextDouble() + i / plane; // channel c averages about c + 0.5
        }
        var expected = Enumerable.Range(0, 3).Select(c => image.AsSpan(c * plane, plane).ToArray().Sum(value => (double)value) / plane).ToArray();
        using var client = ClientHost.Create(_fabrik, mode);
        using var memory = LocalSharedMemory.Create(Key(), image.Length * sizeof(float));
        memory.Write<float>(0, image);
        await client.RegisterSystemSharedMemoryAsync("image", memory.Key, memory.ByteSize);

        using var result = await client.InferAsync(new InferRequest("image_pool")
            .WithInput(InferInput.CreateInSharedMemory("INPUT0", TensorDataType.Fp32, new SharedMemoryRange("image", memory.ByteSize), 1, 3, 224, 224)));

        var means = result.GetOutput<float>("OUTPUT0").ToArray();
        Assert.Equal(3, means.Length);
        for (var c = 0; c < 3; c++)
        {
            Assert.Equal(expected[c], means[c], 1e-4);
        }
    }

    [Theory]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task RegisterStatusUnregister_ListTheRegionsAsRegistered(ClientMode mode)
    {
        using var client = ClientHost.Create(_fabrik, mode);
        using var memory = LocalSharedMemory.Create(Key(), 4096);
        await client.RegisterSystemSharedMemoryAsync("a", memory.Key, 1024);
        await client.RegisterSystemSharedMemoryAsync("b", memory.Key, 3072, offset: 1024);

        Assert.Equal(
            [new SharedMemoryRegionStatus("a", memory.Key, 0, 1024), new SharedMemoryRegionStatus("b", memory.Key, 1024, 3072)],
            await client.GetSystemSharedMemoryStatusAsync());
        Assert.Equal([new SharedMemoryRegionStatus("b", memory.Key, 1024, 3072)], await client.GetSystemSharedMemoryStatusAsync("b"));

        await client.UnregisterSystemSharedMemoryAsync("a");
        Assert.Equal(["b"], (await client.GetSystemSharedMemoryStatusAsync()).Select(region => region.Name));
        await client.UnregisterSystemSharedMemoryAsync("never-registered"); // not an error, as in Triton
        await client.UnregisterSystemSharedMemoryAsync();
        Assert.Empty(await client.GetSystemSharedMemoryStatusAsync());
        var missing = await Assert.ThrowsAsync<FabrikException>(() => client.GetSystemSharedMemoryStatusAsync("a"));
        Assert.Equal(FabrikErrorKind.NotFound, missing.Kind);
    }

    [Theory]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Register_RangePastTheObject_IsInvalidArgumentAndTheServerStaysUp(ClientMode mode)
    {
        using var client = ClientHost.Create(_fabrik, mode);
        using var memory = LocalSharedMemory.Create(Key(), 1024);
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.RegisterSystemSharedMemoryAsync("big", memory.Key, 1024, offset: 1));
        Assert.Equal(FabrikErrorKind.InvalidArgument, error.Kind);
        Assert.DoesNotContain("/dev/shm", error.Message, StringComparison.Ordinal);
        Assert.True(await client.IsLiveAsync());
    }

    [Theory]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task Register_OnAServerWithoutTheFlag_IsPermissionDeniedNamingIt(ClientMode mode)
    {
        await using var fabrik = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path);
        using var client = ClientHost.Create(fabrik, mode);
        using var memory = LocalSharedMemory.Create(Key(), 1024);
        var error = await Assert.ThrowsAsync<FabrikException>(() => client.RegisterSystemSharedMemoryAsync("a", memory.Key, 1024));
        Assert.Equal(FabrikErrorKind.PermissionDenied, error.Kind);
        Assert.Contains("--allow-shared-memory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void LocalSharedMemory_CreatesAnOwnerOnlyObjectInDevShmAndRemovesItOnDispose()
    {
        var key = Key();
        using (var memory = LocalSharedMemory.Create(key, 100))
        {
            var path = "/dev/shm" + key;
            Assert.Equal(100, new FileInfo(path).Length);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            memory.Write<int>(4, [1, 2, 3]);
            Assert.Equal([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0], File.ReadAllBytes(path)[4..16]);
            Assert.Throws<ArgumentOutOfRangeException>(() => memory.Write(97, new byte[4]));
            Assert.Throws<IOException>(() => LocalSharedMemory.Create(key, 100));
        }
        Assert.False(File.Exists("/dev/shm" + key));
    }

    [Theory]
    [InlineData("no-slash")]
    [InlineData("/a/b")]
    [InlineData("/..")]
    [InlineData("/")]
    public void LocalSharedMemory_KeyThatIsNotAnObjectName_IsRefused(string key) =>
        Assert.Throws<ArgumentException>(() => LocalSharedMemory.Create(key, 100));

    [Fact]
    public void CreateInSharedMemory_RangeThatDoesNotFitTheShape_IsRefused() =>
        Assert.Throws<ArgumentException>(() => InferInput.CreateInSharedMemory("X", TensorDataType.Fp32, new SharedMemoryRange("r", 15), 4));
}
