namespace Fabrik.Testing.Load;

/// <summary><c>dotnet run -c Release --project Benchmarks -- load -m MODEL ...</c></summary>
public static class LoadCommand
{
    public static int Run(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(LoadOptions.Usage);
            return 0;
        }
        LoadOptions options;
        try
        {
            options = LoadOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"load: {e.Message}\n{LoadOptions.Usage}");
            return 2;
        }
        Console.WriteLine($"*** Measuring {options.Model} at {options.Url} over {options.Protocol} ({(options.Client == LoadClient.Own ? "the generator's own client" : "Fabrik.Client")}{(options.SharedMemory == LoadSharedMemory.None ? "" : $", inputs in {options.SharedMemory.ToString().ToLowerInvariant()} shared memory")}), batch {options.BatchSize} ***");
        var results = new LoadGenerator(options, Console.Out).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        foreach (var r in results)
        {
            Console.WriteLine(FormattableString.Invariant(
                $"{r.Mode} {r.Load}: {r.InferencesPerSecond:F1} infer/s, latency p50 {r.P50:F0} p90 {r.P90:F0} p95 {r.P95:F0} p99 {r.P99:F0} µs; server queue {r.ServerQueue:F0} µs, compute input {r.ServerComputeInput:F0} infer {r.ServerComputeInfer:F0} output {r.ServerComputeOutput:F0} µs{(r.Stable ? "" : " (not stable)")}"));
        }
        if (options.ResultsCsv is { } csv)
        {
            LoadReport.Write(csv, options, results);
            Console.WriteLine($"Wrote {csv}, {Path.ChangeExtension(csv, ".json")} and {Path.ChangeExtension(csv, ".svg")}");
        }
        return results.Any(r => r.Errors > 0) ? 1 : 0;
    }
}
