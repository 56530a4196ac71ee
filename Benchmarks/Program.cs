using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Running;

namespace Fabrik.Benchmarks;

/// <summary>
/// The BenchmarkDotNet suite: <c>dotnet run -c Release --project Benchmarks -- --filter '*'</c>.
/// <c>-- --budgets</c> runs the short allocation-budget check that CI runs; <c>-- compare OLD NEW</c>
/// compares two exported runs; <c>-- load ...</c> is the perf_analyzer-style load generator; <c>-- device-sim</c> measures
/// how busy the GPU pipeline keeps a simulated device (Benchmarks/device-sim.sh); <c>-- sequences</c>
/// compares the sequence batcher's strategies; <c>-- ensemble-cost</c> compares an ensemble of two
/// ONNX steps with the same two calls made by the client (Benchmarks/ensemble-cost.sh).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is ["load", ..])
        {
            return Testing.Load.LoadCommand.Run(args[1..]);
        }
        if (args is ["inprocess", ..])
        {
            return Load.InProcessCommand.Run(args[1..]);
        }
        if (args is ["device-sim", ..])
        {
            return DeviceSim.DeviceSimCommand.Run(args[1..]);
        }
        if (args is ["sequences", ..])
        {
            return Load.SequenceRatioCommand.Run(args[1..]);
        }
        if (args is ["ensemble-cost", ..])
        {
            return Load.EnsembleCostCommand.Run(args[1..]);
        }
        if (args is ["report", ..])
        {
            return Load.PerformanceReport.Run(args[1..]);
        }
        if (args is ["minimal", ..])
        {
            return Peers.MinimalCommand.Run(args[1..]);
        }
        if (args is ["compare", ..])
        {
            return Testing.Regression.CompareCommand.Run(args[1..]);
        }
        if (args is ["--budgets", ..])
        {
            var results = args.Length > 2 && args[^2] == "--results" ? args[^1] : null;
            var rest = results is null ? args[1..] : args[1..^2];
            var path = rest.Length > 0 ? rest[0] : Path.Combine(BenchmarkModels.RepositoryRoot, "Benchmarks", "allocation-budgets.json");
            return AllocationBudgets.Check(path, results);
        }
        // The full suite: BenchmarkDotNet's own full JSON beside its other reports, and the
        // measurements as this commit's "suite" run for compare.
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly)
            .Run(args, DefaultConfig.Instance.AddExporter(JsonExporter.Full));
        if (summaries.Any(summary => summary.Reports.Length > 0))
        {
            Regression.BenchmarkResults.Export(summaries, "suite");
        }
        return 0;
    }
}
