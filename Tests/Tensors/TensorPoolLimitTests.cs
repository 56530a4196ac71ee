using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Fabrik.Tensors;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Tensors;

/// <summary>--pinned-memory-pool-byte-size: the pool never owns more than its limit, and a request
/// that would pass it is refused at once as resource exhausted while small ones still run.</summary>
public sealed class TensorPoolLimitTests
{
    [Fact]
    public void Rent_PastTheLimit_ThrowsAndLetsIdleArraysGoFirst()
    {
        var pool = new TensorMemoryPool(byteLimit: 2048);
        var a = pool.Rent(1024);
        var b = pool.Rent(1024);
        Assert.Throws<TensorPoolExhaustedException>(() => pool.Rent(256));
        Assert.Equal(2048, pool.LiveBytes);

        pool.Return(a); // idle now, still owned
        pool.Return(b);
        var large = pool.Rent(2048); // fits only once both idle arrays are let go
        Assert.Equal(2048, pool.LiveBytes);
        Assert.Throws<TensorPoolExhaustedException>(() => pool.Rent(4096));
        pool.Return(large);
        Assert.Equal(0, pool.Outstanding);
        Assert.InRange(pool.LiveBytes, 0, 2048);
    }

    [Fact]
    public void ReserveExternal_CountsAgainstTheLimitLetsIdleArraysGoAndIsGivenBack()
    {
        var pool = new TensorMemoryPool(byteLimit: 4096);
        pool.Return(pool.Rent(2048)); // idle, still owned

        pool.ReserveExternal(3072); // fits once the idle array is let go
        Assert.Equal(3072, pool.ExternalBytes);
        Assert.Equal(3072, pool.LiveBytes);
        Assert.Throws<TensorPoolExhaustedException>(() => pool.ReserveExternal(2048));
        Assert.Throws<TensorPoolExhaustedException>(() => pool.Rent(2048));
        Assert.Equal(3072, pool.LiveBytes); // a refusal counts nothing

        pool.ReleaseExternal(3072);
        Assert.Equal(0, pool.ExternalBytes);
        Assert.Equal(0, pool.LiveBytes);
        pool.Return(pool.Rent(4096));
    }

    [Fact]
    public async Task Server_RequestPastThePoolLimit_Is503WithRetryAfterOrUnavailable_AndSmallOnesRun()
    {
        const long limit = 256 << 10;
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--metrics-port", "0", "--grpc-port", "0", "--pinned-memory-pool-byte-size", limit.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
        using var client = new HttpClient { BaseAddress = server.HttpAddress };

        var body = new JsonObject { ["inputs"] = Samples.Sample("mlp", 0)["inputs"]!.DeepClone() }.ToJsonString();
        using (var small = await client.PostAsync("/v2/models/mlp/infer", new StringContent(body, Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        }

        // Sixteen BYTES elements of 24 KiB per input: a valid request, larger than the pool may hold.
        var text = new string('x', 24 << 10);
        var strings = Samples.Sample("strings", 0)["inputs"]!.DeepClone().AsArray();
        foreach (var input in strings)
        {
            input!["shape"] = new JsonArray(1, 16);
            input["data"] = new JsonArray(Enumerable.Repeat(text, 16).Select(t => (JsonNode)t).ToArray());
        }
        using var refused = await client.PostAsync("/v2/models/strings/infer", new StringContent(new JsonObject { ["inputs"] = strings }.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Contains("--pinned-memory-pool-byte-size", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var channel = GrpcChannel.ForAddress(server.GrpcAddress!);
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var message = new ModelInferRequest { ModelName = "strings" };
        foreach (var input in strings)
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = (string)input!["name"]!, Datatype = "BYTES", Contents = new InferTensorContents() };
            tensor.Shape.AddRange([1, 16]);
            tensor.Contents.BytesContents.AddRange(Enumerable.Repeat(ByteString.CopyFromUtf8(text), 16));
            message.Inputs.Add(tensor);
        }
        var error = await Assert.ThrowsAsync<RpcException>(() => grpc.ModelInferAsync(message).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);

        using (var again = await client.PostAsync("/v2/models/mlp/infer", new StringContent(body, Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }
        Assert.InRange(server.TensorPool.LiveBytes, 0, limit);
    }
}
