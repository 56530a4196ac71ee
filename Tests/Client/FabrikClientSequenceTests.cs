using Fabrik.Client;
using Xunit;

namespace Fabrik.Tests.Client;

/// <summary>
/// Stateful models through <see cref="FabrikClient"/>, the way Triton's clients drive them: the
/// sequence id, start and end as request parameters on each call, over HTTP JSON, HTTP binary and
/// gRPC. The accumulator's running sums are computed here, apart from the server.
/// </summary>
public sealed class FabrikClientSequenceTests
{
    [Theory]
    [InlineData(ClientMode.HttpJson)]
    [InlineData(ClientMode.HttpBinary)]
    [InlineData(ClientMode.Grpc)]
    public async Task InterleavedSequences_NumericAndStringIds_EachGetItsOwnRunningSum(ClientMode mode)
    {
        using var repository = new TemporaryRepository().Add("sequence_accumulator");
        await using var fabrik = await InMemoryFabrik.StartAsync("--model-repository", repository.Path);
        using var client = ClientHost.Create(fabrik, mode);
        ParameterValue[] ids = [1001UL, "sensor-7"];
        int[][] values = [[3, 5, -2, 10], [100, 1, 1, 40]];
        var sums = new int[ids.Length];

        for (var step = 0; step < values[0].Length; step++)
        {
            for (var sequence = 0; sequence < ids.Length; sequence++)
            {
                var value = values[sequence][step];
                sums[sequence] += value;
                var request = new InferRequest("sequence_accumulator")
                {
                    SequenceId = ids[sequence],
                    SequenceStart = step == 0,
                    SequenceEnd = step == values[0].Length - 1,
                }.WithInput(InferInput.Create("INPUT", new[] { value }, 1, 1));
                using var result = await client.InferAsync(request);
                Assert.Equal([sums[sequence]], result.GetOutput<int>("OUTPUT").ToArray());
            }
        }

        // Both sequences ended: the next request without START is refused in the server's words.
        var late = new InferRequest("sequence_accumulator") { SequenceId = ids[0] }.WithInput(InferInput.Create("INPUT", new[] { 1 }, 1, 1));
        var refused = await Assert.ThrowsAsync<FabrikException>(() => client.InferAsync(late));
        Assert.Contains("must specify the START flag", refused.Message, StringComparison.Ordinal);
    }
}
