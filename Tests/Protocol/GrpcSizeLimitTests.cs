using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// <c>--http-max-input-size</c> on the gRPC port, over a real socket with a real gRPC client: it
/// bounds each message, so a message of exactly the limit is served and one byte more is refused
/// with RESOURCE_EXHAUSTED. (The 5-byte frame prefix in front of each message is not counted.)
/// </summary>
public sealed class GrpcSizeLimitTests
{
    private const int Limit = 4096;

    [Theory]
    [InlineData(Limit - 1)]
    [InlineData(Limit)]
    public async Task ModelInfer_MessageUpToTheLimit_IsServed(int size)
    {
        await using var server = await StartAsync();
        using var channel = GrpcChannel.ForAddress(server.GrpcAddress!, new GrpcChannelOptions { MaxSendMessageSize = null });
        var request = Request(size);
        var response = await new GRPCInferenceService.GRPCInferenceServiceClient(channel).ModelInferAsync(request);
        Assert.Equal(request.Id, response.Id);
        Assert.Equal(2, response.RawOutputContents.Count);
    }

    [Fact]
    public async Task ModelInfer_MessageOneByteOverTheLimit_IsResourceExhausted()
    {
        await using var server = await StartAsync();
        using var channel = GrpcChannel.ForAddress(server.GrpcAddress!, new GrpcChannelOptions { MaxSendMessageSize = null });
        var client = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var error = await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(Request(Limit + 1)).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);

        // The refusal leaves the server serving on the same channel.
        var request = Request(Limit);
        Assert.Equal(request.Id, (await client.ModelInferAsync(request)).Id);
    }

    private static Task<FabrikServer> StartAsync() => FabrikServer.StartAsync(ServerOptions.Parse([
        "--model-repository", RepositoryLayout.Models, "--load-model", "simple", "--model-control-mode", "explicit",
        "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0", "--http-max-input-size", Limit.ToString(System.Globalization.CultureInfo.InvariantCulture)]));

    /// <summary>A valid request for <c>simple</c> whose serialized size is exactly <paramref name="size"/>
    /// bytes, padded through its id.</summary>
    private static ModelInferRequest Request(int size)
    {
        var request = new ModelInferRequest { ModelName = "simple" };
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32" };
            tensor.Shape.Add([1, 16]);
            request.Inputs.Add(tensor);
            request.RawInputContents.Add(ByteString.CopyFrom(new byte[16 * 4]));
        }
        // The id's length prefix grows with it, so pad, then trim by what the prefix added.
        request.Id = new string('x', size - request.CalculateSize());
        while (request.CalculateSize() > size)
        {
            request.Id = request.Id[..^1];
        }
        Assert.Equal(size, request.CalculateSize());
        return request;
    }
}
