using System.Text.Json;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Fabrik.Testing.Regression;

namespace Fabrik.Benchmarks.Regression;

/// <summary>
/// Exports BenchmarkDotNet runs as JSON into a results folder named by commit
/// (Benchmarks/results/&lt;commit&gt;/&lt;kind&gt;.json); <see cref="BenchmarkRuns"/> reads them back
/// for <c>compare</c>.
/// </summary>
public static class BenchmarkResults
{
    /// <summary>"Type.Method" plus the parameters, for example "CodecBenchmarks.DecodeJson(DataType=FP32)".</summary>
    public static string Name(BenchmarkReport report) => Name(report.BenchmarkCase);

    /// <inheritdoc cref="Name(BenchmarkReport)"/>
    public static string Name(BenchmarkCase benchmark)
    {
        var name = $"{benchmark.Descriptor.Type.Name}.{benchmark.Descriptor.WorkloadMethod.Name}";
        return benchmark.HasParameters ? $"{name}({benchmark.Parameters.PrintInfo})" : name;
    }

    /// <summary>Writes the measurements of <paramref name="summaries"/> to
    /// <paramref name="folder"/>/<paramref name="kind"/>.json (folder default: results/&lt;commit&gt;).
    /// Returns the file written.</summary>
    public static string Export(IEnumerable<Summary> summaries, string kind, string? folder = null) =>
        Export(summaries.SelectMany(summary => summary.Reports), kind, folder);

    /// <summary>The same for reports chosen from several runs.</summary>
    public static string Export(IEnumerable<BenchmarkReport> reports, string kind, string? folder = null)
    {
        var commit = BenchmarkRuns.Commit();
        folder ??= Path.Combine(BenchmarkRuns.ResultsRoot, commit);
        Directory.CreateDirectory(folder);
        var benchmarks = reports
            .Select(report => new BenchmarkMeasurements(
                Name(report),
                [.. report.AllMeasurements
                    .Where(m => m.IterationMode == IterationMode.Workload && m.IterationStage == IterationStage.Result && m.Operations > 0)
                    .Select(m => m.Nanoseconds / m.Operations)],
                report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase)))
            .OrderBy(b => b.Name, StringComparer.Ordinal)
            .ToArray();
        var run = new BenchmarkRun(kind, commit, $"{Environment.MachineName}, {Environment.ProcessorCount} cores, {CpuModel()}", DateTimeOffset.UtcNow, benchmarks);
        var path = Path.Combine(folder, kind + ".json");
        File.WriteAllText(path, JsonSerializer.Serialize(run, BenchmarkRuns.Json));
        Console.WriteLine($"Measurements written to {path}");
        return path;
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        }
        catch (IOException)
        {
            return "unknown CPU";
        }
    }
}
