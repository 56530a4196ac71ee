using System.Runtime.CompilerServices;
using Fabrik.Client;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>The gRPC inference stream through <see cref="FabrikClient"/>: answers in order as
/// requests go out, a refused request reported in place without ending the stream.</summary>
public sealed class FabrikClientStreamTests(ClientHost host) : IClassFixture<ClientHost>
{
    [Theory]
    [InlineData(ClientMode.Grpc)]
    [InlineData(ClientMode.HttpBinary)]
    public async Task Stream_AnswersEachRequestInOrder_AndReportsARefusedOneInPlace(ClientMode mode)
    {
        // The stream goes over gRPC whichever transport the client's other calls use.
        using var client = host.Client(mode);
        var responses = new List<StreamInferResponse>();
        await foreach (var response in client.StreamInferAsync(WithAnUnknownModel()))
        {
            responses.Add(response);
        }
        Assert.Equal(4, responses.Count);
        Assert.Equal("ok-0", responses[0].GetResult().Id);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => i - 0), responses[0].GetResult().GetOutput<int>("OUTPUT1").ToArray());
        var error = Assert.IsType<FabrikException>(responses[1].Error);
        Assert.Equal(FabrikErrorKind.Unknown, error.Kind);
        Assert.Contains("'missing' is not found", error.Message, StringComparison.Ordinal);
        Assert.Equal("lost", error.RequestId);
        Assert.Throws<FabrikException>(() => responses[1].GetResult());
        Assert.Equal("ok-1", responses[2].GetResult().Id);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => i - 1), responses[2].GetResult().GetOutput<int>("OUTPUT1").ToArray());
        Assert.Equal("ok-2", responses[3].GetResult().Id);
        foreach (var response in responses)
        {
            response.Result?.Dispose();
        }
    }

    [Fact]
    public async Task Stream_StoppedEarly_EndsTheCallAndTheServerKeepsServing()
    {
        using var client = host.Client(ClientMode.Grpc);
        await foreach (var response in client.StreamInferAsync(Requests(100)))
        {
            using var result = response.GetResult();
            break;
        }
        Assert.True(await client.IsModelReadyAsync("simple"));
    }

    [Fact]
    public async Task Stream_WhoseRequestsThrow_EndsWithThatError()
    {
        using var client = host.Client(ClientMode.Grpc);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var response in client.StreamInferAsync(Failing()))
            {
                response.Result?.Dispose();
            }
        });
        Assert.Equal("no more requests", error.Message);
    }

    /// <summary><paramref name="count"/> requests to <c>simple</c>: request i adds i to 0..15.</summary>
    internal static async IAsyncEnumerable<InferRequest> Requests(int count, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            cancellation.ThrowIfCancellationRequested();
            yield return Simple(i, $"ok-{i}");
        }
    }

    private static async IAsyncEnumerable<InferRequest> WithAnUnknownModel()
    {
        await Task.Yield();
        yield return Simple(0, "ok-0");
        yield return new InferRequest("missing") { Id = "lost" }.WithInput(InferInput.Create("INPUT0", new int[16], 1, 16));
        yield return Simple(1, "ok-1");
        yield return Simple(2, "ok-2");
    }

    private static async IAsyncEnumerable<InferRequest> Failing()
    {
        yield return Simple(0, "ok-0");
        await Task.Yield();
        throw new InvalidOperationException("no more requests");
    }

    private static InferRequest Simple(int add, string id) => new InferRequest("simple") { Id = id }
        .WithInput(InferInput.Create("INPUT0", Enumerable.Range(0, 16).ToArray(), 1, 16))
        .WithInput(InferInput.Create("INPUT1", Enumerable.Repeat(add, 16).ToArray(), 1, 16));
}
