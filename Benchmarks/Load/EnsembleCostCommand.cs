using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Testing;

namespace Fabrik.Benchmarks.Load;

/// <summary>
/// <c>-- ensemble-cost --url URL [--seconds S] [--rounds R]</c>: latency at concurrency 1 of the
/// sample ensemble <c>simple_chain</c> (one call, two ONNX steps in the server) against the same
/// two steps made by the client one after the other (<c>simple</c>, then <c>simple</c> on the first
/// answer's outputs), with the same HTTP JSON client for both. The two sides alternate for R
/// rounds of S seconds; prints each side's median and 99th percentile per round, and the ratio
/// ensemble ÷ two calls of the medians over all rounds.
/// </summary>
public static class EnsembleCostCommand
{
    public static int Run(string[] args)
    {
        string? url = null;
        int seconds = 10, rounds = 3;
        for (var i = 0; i < args.Length; i++)
        {
            int Integer() => int.Parse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--url": url = args[++i]; break;
                case "--seconds": seconds = Integer(); break;
                case "--rounds": rounds = Integer(); break;
                default: throw new ArgumentException($"ensemble-cost: unknown option '{args[i]}'");
            }
        }
        if (url is null || seconds < 1 || rounds < 1)
        {
            throw new ArgumentException("ensemble-cost: --url is required; --seconds and --rounds are at least 1");
        }
        using var client = new HttpClient { BaseAddress = new Uri(url) };
        var ensemble = new List<double>();
        var p50Ratios = new List<double>();
        var p99Ratios = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            // The two sides alternate which runs first, so that neither always runs second.
            List<double> one, two;
            if (round % 2 == 0)
            {
                one = MeasureAsync(seconds, () => EnsembleAsync(client)).GetAwaiter().GetResult();
                two = MeasureAsync(seconds, () => TwoCallsAsync(client)).GetAwaiter().GetResult();
            }
            else
            {
                two = MeasureAsync(seconds, () => TwoCallsAsync(client)).GetAwaiter().GetResult();
                one = MeasureAsync(seconds, () => EnsembleAsync(client)).GetAwaiter().GetResult();
            }
            p50Ratios.Add(Percentile(one, 0.5) / Percentile(two, 0.5));
            p99Ratios.Add(Percentile(one, 0.99) / Percentile(two, 0.99));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round + 1}: ensemble p50 {Percentile(one, 0.5):F1} us p99 {Percentile(one, 0.99):F1} us ({one.Count}); two calls p50 {Percentile(two, 0.5):F1} us p99 {Percentile(two, 0.99):F1} us ({two.Count})"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ensemble ÷ two calls, latency at c1, median of the rounds' own ratios: p50 {Percentile(p50Ratios, 0.5):F2}, p99 {Percentile(p99Ratios, 0.5):F2}"));
        return 0;
    }

    /// <summary>Runs <paramref name="call"/> back to back for a second unmeasured, then for
    /// <paramref name="seconds"/>; each call's latency in microseconds.</summary>
    private static async Task<List<double>> MeasureAsync(int seconds, Func<Task> call)
    {
        var warmUp = Stopwatch.StartNew();
        while (warmUp.Elapsed < TimeSpan.FromSeconds(1))
        {
            await call();
        }
        var latencies = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            var start = Stopwatch.GetTimestamp();
            await call();
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        return latencies;
    }

    private static readonly int[] A = [.. Enumerable.Range(0, 16)];
    private static readonly int[] B = [.. Enumerable.Repeat(1, 16)];

    private static Task EnsembleAsync(HttpClient client) => InferAsync(client, "simple_chain", "A", A, "B", B);

    private static async Task TwoCallsAsync(HttpClient client)
    {
        var first = await InferAsync(client, "simple", "INPUT0", A, "INPUT1", B);
        await InferAsync(client, "simple", "INPUT0", Output(first, "OUTPUT0"), "INPUT1", Output(first, "OUTPUT1"));
    }

    private static async Task<JsonNode> InferAsync(HttpClient client, string model, string first, int[] a, string second, int[] b)
    {
        var body = new JsonObject { ["inputs"] = new JsonArray(JsonTensors.Row(first, "INT32", a), JsonTensors.Row(second, "INT32", b)) };
        using var response = await client.PostAsJsonAsync($"/v2/models/{model}/infer", body);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    private static int[] Output(JsonNode body, string name) => JsonTensors.Output<int>(body, name);

    private static double Percentile(List<double> values, double quantile)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)(quantile * sorted.Count))];
    }
}
