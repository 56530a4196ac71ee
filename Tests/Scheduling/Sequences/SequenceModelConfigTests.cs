using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Models;
using Xunit;

namespace Fabrik.Tests.Scheduling.Sequences;

/// <summary>
/// The sequence_batching block as the server loads and reports it: the oldest strategy, an
/// initial state read from the model's initial_state folder (and only from there), the block in
/// the configuration endpoint, and combinations the batcher cannot serve making the model
/// UNAVAILABLE with the reason rather than answering wrongly.
/// </summary>
public sealed class SequenceModelConfigTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Oldest_InterleavedSequences_EachGetsItsOwnRunningSum()
    {
        using var repository = new TemporaryRepository().Add("sequence_accumulator");
        Rewrite(repository, "direct { }", "oldest { max_candidate_sequences: 4 max_queue_delay_microseconds: 100 }");
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", repository.Path);
        using var client = host.CreateHttpClient();

        async Task Client(int id)
        {
            var sum = 0;
            for (var step = 0; step < 10; step++)
            {
                var value = (id * 31 + step * 7) % 50 - 25;
                sum += value;
                Assert.Equal(sum, await SequenceRequests.Accumulate(client, (ulong)id, value, step == 0, step == 9));
            }
        }

        await Task.WhenAll(Enumerable.Range(1, 12).Select(Client)).WaitAsync(Wait);
        var config = JsonNode.Parse(await client.GetStringAsync("/v2/models/sequence_accumulator/config"))!;
        Assert.Equal(4, (int)config["sequence_batching"]!["oldest"]!["max_candidate_sequences"]!);
    }

    [Fact]
    public async Task InitialStateFromFile_StartsEverySequenceThere()
    {
        using var repository = new TemporaryRepository().Add("sequence_accumulator");
        Rewrite(repository, "zero_data: true", "data_file: \"start.bin\"");
        var folder = Directory.CreateDirectory(Path.Combine(repository.Path, "sequence_accumulator", "initial_state"));
        await File.WriteAllBytesAsync(Path.Combine(folder.FullName, "start.bin"), BitConverter.GetBytes(100));
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", repository.Path);
        using var client = host.CreateHttpClient();

        Assert.Equal(103, await SequenceRequests.Accumulate(client, 1, 3, start: true, end: false));
        Assert.Equal(108, await SequenceRequests.Accumulate(client, 1, 5, start: false, end: true));
        Assert.Equal(101, await SequenceRequests.Accumulate(client, 2, 1, start: true, end: true));
        var config = JsonNode.Parse(await client.GetStringAsync("/v2/models/sequence_accumulator/config"))!;
        var state = config["sequence_batching"]!["state"]![0]!;
        Assert.Equal("ACCUMULATOR_IN", (string)state["input_name"]!);
        Assert.Equal("start.bin", (string)state["initial_state"]![0]!["data_file"]!);
    }

    [Fact]
    public async Task InitialStateFileOutsideTheModelFolder_IsRefused()
    {
        using var repository = new TemporaryRepository().Add("sequence_accumulator").Add("simple");
        Rewrite(repository, "zero_data: true", "data_file: \"start.bin\"");
        var folder = Directory.CreateDirectory(Path.Combine(repository.Path, "sequence_accumulator", "initial_state"));
        var outside = Path.Combine(repository.Path, "outside.bin");
        await File.WriteAllBytesAsync(outside, BitConverter.GetBytes(100));
        File.CreateSymbolicLink(Path.Combine(folder.FullName, "start.bin"), outside);

        var entry = await StartAndRead(repository, "sequence_accumulator");

        Assert.Equal(ModelState.Unavailable, entry.State);
        Assert.Contains("leads outside", entry.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(repository.Path, entry.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("direct { }", "direct { }\n  iterative_sequence: true", "iterative_sequence")]
    [InlineData("zero_data: true", "data_file: \"missing.bin\"", "not in the model's initial_state folder")]
    [InlineData("output_name: \"ACCUMULATOR_OUT\"", "output_name: \"OUTPUT\"", "given twice")]
    [InlineData("input_name: \"ACCUMULATOR_IN\"", "input_name: \"NO_SUCH_INPUT\"", "NO_SUCH_INPUT")]
    public async Task CombinationTheBatcherCannotServe_MakesTheModelUnavailableWithTheReason(string find, string replace, string expected)
    {
        using var repository = new TemporaryRepository().Add("sequence_accumulator").Add("simple");
        Rewrite(repository, find, replace);

        var entry = await StartAndRead(repository, "sequence_accumulator");

        Assert.Equal(ModelState.Unavailable, entry.State);
        Assert.Contains(expected, entry.Reason, StringComparison.Ordinal);
    }

    private static async Task<ModelEntry> StartAndRead(TemporaryRepository repository, string model)
    {
        await using var host = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--model-repository", repository.Path, "--exit-on-error=false"]));
        Assert.Equal(ModelState.Ready, host.Server.Models.Models["simple"].State);
        return host.Server.Models.Models[model];
    }

    private static void Rewrite(TemporaryRepository repository, string find, string replace)
    {
        var path = Path.Combine(repository.Path, "sequence_accumulator", "config.pbtxt");
        var text = File.ReadAllText(path);
        Assert.Contains(find, text, StringComparison.Ordinal);
        File.WriteAllText(path, text.Replace(find, replace, StringComparison.Ordinal));
    }
}
