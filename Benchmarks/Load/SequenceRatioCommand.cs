using System.Diagnostics;
using System.Globalization;
using System.Text;
using Fabrik.Testing;

namespace Fabrik.Benchmarks.Load;

/// <summary>
/// <c>-- sequences [--sequences N] [--length L] [--seconds S] [--rounds R]</c>: the throughput of
/// the sample accumulator (implicit state, ONNX Runtime) with N sequences in flight at once, under
/// the sequence batcher's <c>oldest</c> strategy and under <c>direct</c>, each with N slots
/// (max_batch_size N for direct, max_candidate_sequences N for oldest, one CPU instance). Each
/// client runs sequences of L requests back to back over HTTP JSON, on the in-memory host, for S
/// seconds; the strategies alternate over R rounds. Prints requests per second and oldest ÷ direct.
/// </summary>
public static class SequenceRatioCommand
{
    public static int Run(string[] args)
    {
        int sequences = 64, length = 50, seconds = 20, rounds = 3;
        for (var i = 0; i < args.Length; i++)
        {
            int Integer() => int.Parse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--sequences": sequences = Integer(); break;
                case "--length": length = Integer(); break;
                case "--seconds": seconds = Integer(); break;
                case "--rounds": rounds = Integer(); break;
                default: throw new ArgumentException($"sequences: unknown option '{args[i]}'");
            }
        }
        if (sequences < 1 || length < 1 || seconds < 1 || rounds < 1)
        {
            throw new ArgumentException("sequences: every option is at least 1");
        }
        var direct = new List<double>();
        var oldest = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            direct.Add(Measure($"max_batch_size: {sequences}", "direct { }", sequences, length, seconds));
            oldest.Add(Measure($"max_batch_size: {sequences}", $"oldest {{ max_candidate_sequences: {sequences} }}", sequences, length, seconds));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round + 1}: direct {direct[^1]:F0} req/s, oldest {oldest[^1]:F0} req/s"));
        }
        var (d, o) = (Median(direct), Median(oldest));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{sequences} sequences of {length}: direct {d:F0} req/s, oldest {o:F0} req/s (medians of {rounds}); oldest / direct = {o / d:F2}"));
        return 0;
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static double Measure(string batchSize, string strategy, int sequences, int length, int seconds)
    {
        using var repository = new TemporaryRepository().Add("sequence_accumulator", extraConfig: batchSize);
        var config = Path.Combine(repository.Path, "sequence_accumulator", "config.pbtxt");
        File.WriteAllText(config, File.ReadAllText(config).Replace("direct { }", strategy, StringComparison.Ordinal));
        return RunAsync(repository.Path, sequences, length, TimeSpan.FromSeconds(seconds)).GetAwaiter().GetResult();
    }

    private static async Task<double> RunAsync(string repository, int sequences, int length, TimeSpan duration)
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", repository);
        using var client = host.CreateHttpClient();
        var stopwatch = Stopwatch.StartNew();
        long completed = 0;

        async Task Client(int index)
        {
            var id = (ulong)index * 1_000_000;
            while (stopwatch.Elapsed < duration)
            {
                id++;
                for (var step = 0; step < length; step++)
                {
                    var json = $$"""{"parameters":{"sequence_id":{{id}},"sequence_start":{{(step == 0 ? "true" : "false")}},"sequence_end":{{(step == length - 1 ? "true" : "false")}}},"inputs":[{"name":"INPUT","datatype":"INT32","shape":[1,1],"data":[1]}]}""";
                    using var content = new StringContent(json, Encoding.UTF8, "application/json");
                    using var response = await client.PostAsync("/v2/models/sequence_accumulator/infer", content);
                    response.EnsureSuccessStatusCode();
                    Interlocked.Increment(ref completed);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(1, sequences).Select(Client));
        return Interlocked.Read(ref completed) / stopwatch.Elapsed.TotalSeconds;
    }
}
