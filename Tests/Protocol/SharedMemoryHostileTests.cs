using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Native.SharedMemory;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Protocol.Triton;
using Fabrik.Security;
using Fabrik.Tests.Security;
using Fabrik.Tests.Support;
using Grpc.Core;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// The shared-memory extension against clients that try to turn it on the server: off by default,
/// local clients only, keys that reach outside /dev/shm, links, other users' objects, ranges past
/// the end or overflowing, regions unregistered or truncated while in use. Each is answered with
/// a 4xx (or its gRPC status) in the client's terms, never a server path, and the server keeps
/// serving.
/// </summary>
public sealed class SharedMemoryHostileTests : IAsyncLifetime
{
    private readonly TemporaryRepository _repository = new TemporaryRepository()
        .Add("simple")
        .Add("simple", "batched", "dynamic_batching { max_queue_delay_microseconds: 60000000 }");
    private readonly List<IDisposable> _cleanup = [];
    private readonly ManualTimeProvider _time = new();
    private InMemoryClients _server = null!;

    private InMemoryFabrik Host => _server.Host;

    private HttpClient Http => _server.Http;

    private GRPCInferenceService.GRPCInferenceServiceClient Rpc => _server.Grpc;

    public async Task InitializeAsync() =>
        _server = await InMemoryClients.StartAsync(ServerOptions.Parse(["--model-repository", _repository.Path, "--allow-shared-memory=true"]), _time);

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        foreach (var item in _cleanup)
        {
            item.Dispose();
        }
        _repository.Dispose();
    }

    private SharedMemoryFile Object(long size)
    {
        var file = new SharedMemoryFile(size);
        _cleanup.Add(file);
        return file;
    }

    /// <summary>Posts <paramref name="body"/> and returns the status and the error message, which
    /// must never show where the server keeps anything.</summary>
    private static async Task<(HttpStatusCode Status, string Error)> PostAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("/dev/shm", text, StringComparison.Ordinal);
        var error = response.StatusCode == HttpStatusCode.OK ? "" : (string?)JsonNode.Parse(text)?["error"] ?? text;
        return (response.StatusCode, error);
    }

    private Task<(HttpStatusCode Status, string Error)> RegisterAsync(string name, string key, object offset, object size) =>
        PostAsync(Http, $"/v2/systemsharedmemory/region/{name}/register", new Dictionary<string, object> { ["key"] = key, ["offset"] = offset, ["byte_size"] = size });

    private static JsonObject Region(string name, long offset, long size) => new()
    {
        ["shared_memory_region"] = name, ["shared_memory_offset"] = offset, ["shared_memory_byte_size"] = size,
    };

    private static byte[] Int32s(IEnumerable<int> values)
    {
        var array = values.ToArray();
        var bytes = new byte[array.Length * 4];
        for (var i = 0; i < array.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * 4), array[i]);
        }
        return bytes;
    }

    /// <summary>INPUT0 from region "in" (64 bytes at <paramref name="offset"/>), INPUT1 = ones in the
    /// body, OUTPUT0 into <paramref name="output"/> when given.</summary>
    private static JsonObject SimpleRequest(long offset = 0, long size = 64, JsonObject? output = null) => new()
    {
        ["inputs"] = new JsonArray(
            new JsonObject { ["name"] = "INPUT0", ["datatype"] = "INT32", ["shape"] = new JsonArray(1, 16), ["parameters"] = Region("in", offset, size) },
            new JsonObject { ["name"] = "INPUT1", ["datatype"] = "INT32", ["shape"] = new JsonArray(1, 16), ["data"] = new JsonArray([.. Enumerable.Repeat(1, 16).Select(v => (JsonNode)v)]) }),
        ["outputs"] = output is null ? new JsonArray(new JsonObject { ["name"] = "OUTPUT0" }) : new JsonArray(new JsonObject { ["name"] = "OUTPUT0", ["parameters"] = output }),
    };

    private async Task AssertStillServingAsync()
    {
        using var response = await Http.PostAsJsonAsync("/v2/models/simple/infer", new JsonObject
        {
            ["inputs"] = new JsonArray(
                new JsonObject { ["name"] = "INPUT0", ["datatype"] = "INT32", ["shape"] = new JsonArray(1, 16), ["data"] = new JsonArray([.. Enumerable.Range(0, 16).Select(v => (JsonNode)v)]) },
                new JsonObject { ["name"] = "INPUT1", ["datatype"] = "INT32", ["shape"] = new JsonArray(1, 16), ["data"] = new JsonArray([.. Enumerable.Repeat(1, 16).Select(v => (JsonNode)v)]) }),
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Off_ByDefault_EveryCallIsRefusedNamingTheFlag()
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path);
        using var http = host.CreateHttpClient();
        using var channel = host.CreateGrpcChannel();
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var file = Object(64);

        var (status, error) = await PostAsync(http, "/v2/systemsharedmemory/region/in/register", new { key = file.Key, offset = 0, byte_size = 64 });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("--allow-shared-memory=true", error, StringComparison.Ordinal);
        (status, error) = await PostAsync(http, "/v2/models/simple/infer", SimpleRequest());
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("--allow-shared-memory=true", error, StringComparison.Ordinal);
        using (var listing = await http.GetAsync("/v2/systemsharedmemory/status"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, listing.StatusCode);
        }
        var refused = await Assert.ThrowsAsync<RpcException>(() => grpc.SystemSharedMemoryRegisterAsync(new SystemSharedMemoryRegisterRequest { Name = "in", Key = file.Key, ByteSize = 64 }).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains("--allow-shared-memory=true", refused.Status.Detail, StringComparison.Ordinal);
        refused = await Assert.ThrowsAsync<RpcException>(() => grpc.CudaSharedMemoryRegisterAsync(new CudaSharedMemoryRegisterRequest { Name = "g", ByteSize = 64 }).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        var metadata = JsonNode.Parse(await http.GetStringAsync("/v2"))!;
        Assert.DoesNotContain("system_shared_memory", metadata["extensions"]!.AsArray().Select(extension => (string)extension!));
    }

    [Fact]
    public async Task RemoteClient_IsRefused()
    {
        var file = Object(64);
        var context = await Host.SendAsync(http =>
        {
            http.Connection.RemoteIpAddress = IPAddress.Parse("192.0.2.7");
            http.Request.Method = "POST";
            http.Request.Path = "/v2/systemsharedmemory/region/in/register";
            http.Request.ContentType = "application/json";
            http.Request.Body = new MemoryStream(System.Text.Encoding.UTF8.GetBytes($"{{\"key\":\"{file.Key}\",\"offset\":0,\"byte_size\":64}}"));
        });
        Assert.Equal(403, context.Response.StatusCode);
        var error = await new StreamReader(context.Response.Body).ReadToEndAsync();
        Assert.Contains("loopback", error, StringComparison.Ordinal);
        Assert.True(SharedMemoryRegistry.IsLocal(IPAddress.Parse("::ffff:127.0.0.1")));
        Assert.True(SharedMemoryRegistry.IsLocal(IPAddress.IPv6Loopback));
        Assert.False(SharedMemoryRegistry.IsLocal(IPAddress.Parse("10.0.0.1")));
    }

    public static TheoryData<string> KeysOutsideTheDirectory() =>
    [
        "", "/", "noslash", "/a/b", "//x", "/../etc/passwd", "/..", "/.", "/x..y", "/x\0y", "/x\ny", "/" + new string('a', 300),
    ];

    [Theory]
    [MemberData(nameof(KeysOutsideTheDirectory))]
    public async Task Keys_ThatCouldReachOutsideTheDirectory_AreRefused(string key)
    {
        var (status, error) = await RegisterAsync("r", key, 0, 8);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith("shared memory key", error, StringComparison.Ordinal);
        var refused = await Assert.ThrowsAsync<RpcException>(() => Rpc.SystemSharedMemoryRegisterAsync(new SystemSharedMemoryRegisterRequest { Name = "r", Key = key, ByteSize = 8 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task SymbolicLinks_AreNeverFollowed()
    {
        var outside = Path.GetTempFileName();
        File.WriteAllBytes(outside, new byte[64]);
        var inside = Object(64);
        foreach (var target in new[] { outside, inside.Path })
        {
            var name = $"fabrik-test-link-{Guid.NewGuid():N}";
            var link = File.CreateSymbolicLink("/dev/shm/" + name, target);
            try
            {
                var (status, error) = await RegisterAsync("r", "/" + name, 0, 8);
                Assert.Equal(HttpStatusCode.BadRequest, status);
                Assert.Contains("symbolic link", error, StringComparison.Ordinal);
            }
            finally
            {
                link.Delete();
            }
        }
        File.Delete(outside);
    }

    [Fact]
    public async Task WhatIsNotARegularObject_IsRefused()
    {
        var name = $"fabrik-test-dir-{Guid.NewGuid():N}";
        var directory = Directory.CreateDirectory("/dev/shm/" + name);
        try
        {
            var (status, error) = await RegisterAsync("r", "/" + name, 0, 8);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains("does not name a shared memory object", error, StringComparison.Ordinal);
            (status, error) = await RegisterAsync("r", $"/fabrik-test-missing-{Guid.NewGuid():N}", 0, 8);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains("exists", error, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete();
        }
    }

    [Fact]
    public async Task AnotherUsersObject_IsRefused()
    {
        // The server is told to accept regions of another user than the one that made the object:
        // the same check that refuses another user's object when the server runs as itself.
        var other = SharedMemoryObject.EffectiveUserId + 1;
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--allow-shared-memory=true", $"--shared-memory-owner-uid={other}");
        using var http = host.CreateHttpClient();
        var file = Object(64);
        var (status, error) = await PostAsync(http, "/v2/systemsharedmemory/region/r/register", new { key = file.Key, offset = 0, byte_size = 64 });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("belongs to another user", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RegisteredRanges_PastTheEndOrOverflowing_AreRefused()
    {
        var file = Object(4096);
        Assert.Equal(HttpStatusCode.BadRequest, (await RegisterAsync("r", file.Key, 0, 4097)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await RegisterAsync("r", file.Key, 4000, 97)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await RegisterAsync("r", file.Key, 0, 0)).Status);
        var (status, error) = await RegisterAsync("r", file.Key, ulong.MaxValue, 1);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("overflows", error, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await RegisterAsync("r", file.Key, 1, ulong.MaxValue)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await RegisterAsync("r", file.Key, (ulong)long.MaxValue, (ulong)long.MaxValue)).Status);
        var refused = await Assert.ThrowsAsync<RpcException>(() => Rpc.SystemSharedMemoryRegisterAsync(
            new SystemSharedMemoryRegisterRequest { Name = "r", Key = file.Key, Offset = ulong.MaxValue - 1, ByteSize = 2 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Empty(JsonNode.Parse(await Http.GetStringAsync("/v2/systemsharedmemory/status"))!.AsArray());
    }

    [Fact]
    public async Task TensorRanges_PastTheRegionOrOverflowing_AreRefused()
    {
        var file = Object(4096);
        file.Write(0, Int32s(Enumerable.Range(0, 16)));
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync("in", file.Key, 0, 128)).Status);

        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(Http, "/v2/models/simple/infer", SimpleRequest(offset: 65))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(Http, "/v2/models/simple/infer", SimpleRequest(offset: long.MaxValue))).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(Http, "/v2/models/simple/infer", SimpleRequest(size: 60))).Status);
        var request = SimpleRequest();
        request["inputs"]![0]!["parameters"]!["shared_memory_byte_size"] = JsonNode.Parse("18446744073709551615");
        var (status, error) = await PostAsync(Http, "/v2/models/simple/infer", request);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("shared_memory_byte_size", error, StringComparison.Ordinal);
        request = SimpleRequest();
        request["inputs"]![0]!.AsObject().Add("data", new JsonArray([.. Enumerable.Repeat(1, 16).Select(v => (JsonNode)v)]));
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(Http, "/v2/models/simple/infer", request)).Status);
        request = SimpleRequest();
        request["inputs"]![0]!["parameters"]!.AsObject().Remove("shared_memory_byte_size");
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(Http, "/v2/models/simple/infer", request)).Status);
        (status, error) = await PostAsync(Http, "/v2/models/simple/infer", SimpleRequest(output: Region("in", 0, 32)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("OUTPUT0", error, StringComparison.Ordinal);
        (status, error) = await PostAsync(Http, "/v2/models/simple/infer", SimpleRequest(output: Region("nowhere", 0, 64)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("no shared memory region named 'nowhere'", error, StringComparison.Ordinal);

        var grpcRequest = new ModelInferRequest { ModelName = "simple" };
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            var input = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32", Shape = { 1, 16 } };
            input.Parameters.Add("shared_memory_region", new InferParameter { StringParam = "in" });
            input.Parameters.Add("shared_memory_byte_size", new InferParameter { Uint64Param = ulong.MaxValue });
            grpcRequest.Inputs.Add(input);
        }
        var refused = await Assert.ThrowsAsync<RpcException>(() => Rpc.ModelInferAsync(grpcRequest).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task ObjectTruncatedAfterRegistration_IsRefused_AndTheServerStaysUp()
    {
        var file = Object(4096);
        var expected = Enumerable.Range(0, 16).Select(i => i * 3).ToArray();
        file.Write(0, Int32s(expected));
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync("in", file.Key, 0, 4096)).Status);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(Http, "/v2/models/simple/infer", SimpleRequest())).Status);

        file.Resize(32);
        var (status, error) = await PostAsync(Http, "/v2/models/simple/infer", SimpleRequest());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("truncated", error, StringComparison.Ordinal);
        (status, error) = await PostAsync(Http, "/v2/models/simple/infer", SimpleRequest(output: Region("in", 1024, 64)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("truncated", error, StringComparison.Ordinal);
        Assert.Equal(32, new FileInfo(file.Path).Length); // the refused write did not grow it back

        // Grown again, the region serves as before.
        file.Resize(4096);
        file.Write(0, Int32s(expected));
        using var response = await Http.PostAsJsonAsync("/v2/models/simple/infer", SimpleRequest());
        var sums = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]![0]!["data"]!.AsArray().Select(value => (int)value!);
        Assert.Equal(expected.Select(value => value + 1), sums);
    }

    [Fact]
    public async Task RegionUnregisteredWhileARequestWaits_FailsThatRequestOnly()
    {
        var input = Object(64);
        var output = Object(64);
        input.Write(0, Int32s(Enumerable.Range(0, 16)));
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync("in", input.Key, 0, 64)).Status);
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync("out", output.Key, 0, 64)).Status);

        // The batched model holds the request in its queue (manual clock) after it was decoded.
        var waiting = PostAsync(Http, "/v2/models/batched/infer", SimpleRequest(output: Region("out", 0, 64)));
        var scheduler = Host.Server.Models.Resolve("batched", null).Scheduler;
        Assert.True(await Eventually.HoldsAsync(() => scheduler.QueuedCount == 1));
        using (var unregister = await Http.PostAsync("/v2/systemsharedmemory/region/out/unregister", null))
        {
            Assert.Equal(HttpStatusCode.OK, unregister.StatusCode);
        }
        _time.Advance(TimeSpan.FromSeconds(61));
        var (status, error) = await waiting;
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("no shared memory region named 'out'", error, StringComparison.Ordinal);
        Assert.Equal(new byte[64], output.Read(0, 64));
        await AssertStillServingAsync();
    }

    [Fact]
    public void RegionUnregisteredWhileLeased_StaysReadableUntilTheLeaseEnds()
    {
        var file = Object(64);
        file.Write(0, Int32s(Enumerable.Range(7, 16)));
        using var audit = new AuditLog(null);
        using var registry = new SharedMemoryRegistry(new SharedMemorySettings { Allowed = true }, audit, new Fabrik.Testing.SimulatedDevice.SimulatedCudaSharedMemory(deviceCount: 0),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<SharedMemoryRegistry>.Instance);
        registry.Register("r", file.Key, 0, 64, remote: null, caller: null);
        var region = registry.Lease("r", "INPUT0", remote: null);

        registry.Unregister("r", remote: null, caller: null);
        var bytes = new byte[64];
        region.Read("INPUT0", 0, bytes);
        Assert.Equal(Int32s(Enumerable.Range(7, 16)), bytes);
        region.Release();

        Assert.False(region.TryAcquire());
        Assert.Throws<Fabrik.Errors.InferenceException>(() => registry.Lease("r", "INPUT0", remote: null));
    }

    [Fact]
    public async Task Limits_OnRegionsAndBytes_AreEnforced()
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--allow-shared-memory=true",
            "--shared-memory-max-regions=2", "--shared-memory-max-bytes=100");
        using var http = host.CreateHttpClient();
        var file = Object(4096);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(http, "/v2/systemsharedmemory/region/a/register", new { key = file.Key, offset = 0, byte_size = 60 })).Status);
        var (status, error) = await PostAsync(http, "/v2/systemsharedmemory/region/b/register", new { key = file.Key, offset = 0, byte_size = 41 });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("--shared-memory-max-bytes", error, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(http, "/v2/systemsharedmemory/region/b/register", new { key = file.Key, offset = 0, byte_size = 40 })).Status);
        (status, error) = await PostAsync(http, "/v2/systemsharedmemory/region/c/register", new { key = file.Key, offset = 0, byte_size = 1 });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("--shared-memory-max-regions", error, StringComparison.Ordinal);
        (status, error) = await PostAsync(http, "/v2/systemsharedmemory/region/a/register", new { key = file.Key, offset = 0, byte_size = 1 });
        Assert.Contains("already registered", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiKeys_NeedTheSharedMemoryScope_AndEveryRegistrationIsAudited()
    {
        var folder = Directory.CreateTempSubdirectory("fabrik-shm-").FullName;
        _cleanup.Add(new DeleteOnDispose(folder));
        var keys = Path.Combine(folder, "keys.json");
        File.WriteAllText(keys, AuthTests.KeyFile(("inference-only", "shm-infer-4d2a", ["infer:*"]), ("preprocessor", "shm-scope-77c1", ["shared-memory", "infer:*"])));
        var audit = Path.Combine(folder, "audit.jsonl");
        var file = Object(64);
        await using (var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--allow-shared-memory=true", "--auth-keys", keys, "--audit-log", audit))
        {
            using var http = host.CreateHttpClient();
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "shm-infer-4d2a");
            var (status, _) = await PostAsync(http, "/v2/systemsharedmemory/region/r/register", new { key = file.Key, offset = 0, byte_size = 64 });
            Assert.Equal(HttpStatusCode.Forbidden, status);
            using var channel = host.CreateGrpcChannel();
            var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
            var refused = await Assert.ThrowsAsync<RpcException>(() => grpc.SystemSharedMemoryStatusAsync(new SystemSharedMemoryStatusRequest(),
                new Metadata { { "authorization", "Bearer shm-infer-4d2a" } }).ResponseAsync);
            Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);

            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "shm-scope-77c1");
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(http, "/v2/systemsharedmemory/region/r/register", new { key = file.Key, offset = 0, byte_size = 64 })).Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(http, "/v2/systemsharedmemory/region/bad/register", new { key = "/../x", offset = 0, byte_size = 64 })).Status);
            using var unregister = await http.PostAsync("/v2/systemsharedmemory/region/r/unregister", null);
            Assert.Equal(HttpStatusCode.OK, unregister.StatusCode);
        }
        var records = File.ReadAllLines(audit).Select(line => JsonNode.Parse(line)!).ToList();
        var registered = Assert.Single(records, record => (string?)record["event"] == "shared-memory-register");
        Assert.Equal("r", (string?)registered["name"]);
        Assert.Equal(file.Key, (string?)registered["key"]);
        Assert.Equal("preprocessor", (string?)registered["caller"]);
        Assert.Single(records, record => (string?)record["event"] == "shared-memory-register-refused" && (string?)record["caller"] == "preprocessor");
        Assert.Single(records, record => (string?)record["event"] == "shared-memory-unregister" && (string?)record["name"] == "r");
    }

    private sealed class DeleteOnDispose(string folder) : IDisposable
    {
        public void Dispose() => Directory.Delete(folder, recursive: true);
    }

    [NoGpuFact]
    public async Task CudaRegions_WithoutADevice_AreRefusedClearly()
    {
        var (status, error) = await PostAsync(Http, "/v2/cudasharedmemory/region/g/register",
            new { raw_handle = new { b64 = Convert.ToBase64String(new byte[64]) }, device_id = 0, byte_size = 64 });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("CUDA device", error, StringComparison.Ordinal);
        var refused = await Assert.ThrowsAsync<RpcException>(() => Rpc.CudaSharedMemoryRegisterAsync(
            new CudaSharedMemoryRegisterRequest { Name = "g", RawHandle = Google.Protobuf.ByteString.CopyFrom(new byte[64]), ByteSize = 64 }).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("CUDA device", refused.Status.Detail, StringComparison.Ordinal);
    }
}
