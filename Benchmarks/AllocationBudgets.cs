using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using Perfolizer.Horology;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Fabrik.Benchmarks;

/// <summary>
/// The short mode CI runs: every hot-path benchmark once, briefly and in process, with the memory
/// diagnoser; each one's bytes allocated per operation must stay within the budget committed in
/// allocation-budgets.json. A benchmark without a budget fails too, so new ones get one.
/// Workstation GC (this project's setting) keeps the counts steady.
/// </summary>
internal static class AllocationBudgets
{
    public static readonly Type[] HotPath =
        [typeof(InProcessInferBenchmarks), typeof(CodecBenchmarks), typeof(SchedulingBenchmarks), typeof(OnnxRuntimeBenchmarks), typeof(InMemory.FullPathBenchmarks)];

    /// <summary>Runs the hot path briefly, checks the budgets, and exports the measurements as
    /// the "budgets" run of this commit (Benchmarks/results/&lt;commit&gt;/budgets.json, or
    /// <paramref name="resultsFolder"/>), which <c>compare</c> reads.</summary>
    public static int Check(string budgetsPath, string? resultsFolder = null)
    {
        var budgets = JsonSerializer.Deserialize<Dictionary<string, long>>(File.ReadAllText(budgetsPath))
            ?? throw new InvalidDataException($"{budgetsPath} holds no budgets");
        var job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(2)
            .WithIterationCount(8) // enough iterations for compare's rank test to tell a change from noise
            .WithIterationTime(TimeInterval.FromMilliseconds(100));
        var config = ManualConfig.CreateMinimumViable()
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithOptions(ConfigOptions.DisableLogFile);
        var summaries = BenchmarkRunner.Run(HotPath, config);
        Regression.BenchmarkResults.Export(summaries, "budgets", resultsFolder);

        var failures = 0;
        Console.WriteLine();
        Console.WriteLine($"{"benchmark",-70} {"allocated",10} {"budget",10}");
        foreach (var report in summaries.SelectMany(summary => summary.Reports))
        {
            var name = Regression.BenchmarkResults.Name(report);
            var allocated = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase);
            var verdict = "";
            if (allocated is null)
            {
                verdict = "  FAILED: no measurement";
                failures++;
            }
            else if (!budgets.TryGetValue(name, out var budget))
            {
                verdict = "  FAILED: no budget in " + Path.GetFileName(budgetsPath);
                failures++;
            }
            else if (allocated > budget)
            {
                verdict = "  FAILED: over budget";
                failures++;
            }
            Console.WriteLine($"{name,-70} {allocated?.ToString(CultureInfo.InvariantCulture) ?? "-",10} {(budgets.TryGetValue(name, out var b) ? b.ToString(CultureInfo.InvariantCulture) : "-"),10}{verdict}");
        }
        Console.WriteLine(failures == 0 ? "All hot-path benchmarks are within their allocation budgets." : $"{failures} benchmark(s) failed their allocation budget.");
        return failures == 0 ? 0 : 1;
    }
}
