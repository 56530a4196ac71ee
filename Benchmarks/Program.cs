using BenchmarkDotNet.Running;

namespace Fabrik.Benchmarks;

/// <summary>
/// The BenchmarkDotNet suite: <c>dotnet run -c Release --project Benchmarks -- --filter '*'</c>.
/// <c>-- --budgets</c> runs the short allocation-budget check that CI runs; <c>-- load ...</c> is the
/// perf_analyzer-style load generator.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is ["load", ..])
        {
            return Load.LoadCommand.Run(args[1..]);
        }
        if (args is ["inprocess", ..])
        {
            return Load.InProcessCommand.Run(args[1..]);
        }
        if (args is ["report", ..])
        {
            return Load.PerformanceReport.Run(args[1..]);
        }
        if (args is ["minimal", "--port", var port])
        {
            Peers.MinimalEndpoint.RunAsync(int.Parse(port, System.Globalization.CultureInfo.InvariantCulture), Path.Combine(BenchmarkModels.RepositoryRoot, "models"), ["simple", "mlp", "cnn"], CancellationToken.None).GetAwaiter().GetResult();
            return 0;
        }
        if (args is ["--budgets", ..])
        {
            var path = args.Length > 1 ? args[1] : Path.Combine(BenchmarkModels.RepositoryRoot, "Benchmarks", "allocation-budgets.json");
            return AllocationBudgets.Check(path);
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
